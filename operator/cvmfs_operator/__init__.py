"""CernVM-FS release operator: publishes to CVMFS repositories from ephemeral Kubernetes pods."""
