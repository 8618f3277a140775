"""The deterministic demo inventory of Guangxi (made-up, realistic), written through `inventory.service`."""
