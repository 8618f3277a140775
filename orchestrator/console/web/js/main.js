// The console's entry: each page module registers its routes and navigation on import; then the console starts.
import { start } from "./core.js";
import "./home.js";
import "./extranet-node.js"; // imports extranet.js (map, node list)

start();
