"""Spreadsheets in and out of the inventory: reading cells (`cells`, `spreadsheets`, `labels`), planning and
applying an import (`importing`), text-safe XLSX (`sheet_text`) and the HTTP routes (`api`)."""
