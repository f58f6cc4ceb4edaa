-- The unit head (单位主要负责人), a role of its own: 督办 reaches them.
ALTER TABLE people DROP CONSTRAINT people_role_check;
ALTER TABLE people ADD CONSTRAINT people_role_check
    CHECK (role IN ('liaison', 'leader', 'office', 'head'));
ALTER TABLE invites DROP CONSTRAINT invites_role_check;
ALTER TABLE invites ADD CONSTRAINT invites_role_check
    CHECK (role IN ('liaison', 'leader', 'office', 'head'));
