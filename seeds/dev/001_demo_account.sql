-- A demo account for dev and test stages (not for prod: list `dev` in `Seeds` only there).
INSERT INTO accounts (id, email, display_name, plan_code) VALUES
    ('00000000-0000-4000-8000-000000000001', 'demo@example.com', 'Demo User', 'team');
