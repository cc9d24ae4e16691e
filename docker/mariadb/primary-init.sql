-- The MariaDB primary's first start (run by the image from /docker-entrypoint-initdb.d, after
-- it created the database, the user app and the replication user): plexiproxy's health checks
-- log in as app and read SHOW SLAVE STATUS on the replica, which needs SLAVE MONITOR. Written
-- to the binary log, so the replica gets the grant too.
GRANT SLAVE MONITOR ON *.* TO 'app'@'%';
