"""The queue machine: queue engine, dispenser UI, counter caller and rating pad."""
