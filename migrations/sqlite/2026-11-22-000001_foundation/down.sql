DROP TABLE api_tokens;
DROP TABLE refresh_tokens;
DROP TABLE population_figures;
DROP TABLE users;
DROP TABLE union_memberships;
DROP TABLE organizations;
