"""Spreadsheets in and out of the inventory: reading cells (`cells`, `spreadsheets`, `labels`), a kind's columns and
finding the header (`headers`), planning and applying an import (`importing`), export and templates (`exporting`),
text-safe XLSX (`sheet_text`) and the HTTP routes (`api`)."""
