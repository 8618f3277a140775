"""The web console (控制台): one static page whose modules call the JSON API as the signed-in user."""
