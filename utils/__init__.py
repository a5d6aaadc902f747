"""The workbook's helper package: one module per idea of the course (see the README's map)."""
