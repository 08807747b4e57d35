-- Subscription plans: reference data shared by every stage (rows come from seeds/common).
-- Portable SQL: the same file runs on PostgreSQL and on MySQL/MariaDB.
CREATE TABLE plans (
    code VARCHAR(32) NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    max_projects INTEGER NOT NULL CHECK (max_projects > 0)
);
