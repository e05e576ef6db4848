"""`taxhall web`: the hall on the web — the taxpayer's mobile queue page and the duty
supervisor's dashboard, fed from the hall bus (docs/web.md)."""
