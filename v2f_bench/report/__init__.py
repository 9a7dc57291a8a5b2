"""Reports: tables, equal-budget curves, figures and pages built from experiment directories."""
