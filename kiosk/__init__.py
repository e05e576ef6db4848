"""The 24-hour self-service kiosk and the local tax gateway it calls."""
