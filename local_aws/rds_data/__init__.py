"""Amazon RDS Data API, locally: the `rds-data` HTTP API of one Aurora MySQL cluster, forwarding to MariaDB."""
