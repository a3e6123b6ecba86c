DROP TRIGGER allocations_are_immutable_delete;
DROP TRIGGER allocations_are_immutable_update;
DROP TABLE allocations;
