-- Reference data every stage needs. Applied once per database; to change it, add a new file.
INSERT INTO plans (code, name, max_projects) VALUES
    ('free', 'Free', 3),
    ('team', 'Team', 100);
