"""hullcheck's network services. ``admission``: the Kubernetes validating webhook."""
