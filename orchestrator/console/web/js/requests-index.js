// The Requests and Approvals area: the list, catalogue and form first ("requests/new" before "requests/:id"),
// then a request's page, then the approvers' inbox.
import "./requests.js";
import "./request-page.js";
import "./approvals.js";
