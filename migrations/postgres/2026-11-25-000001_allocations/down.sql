DROP TRIGGER allocations_are_immutable ON allocations;
DROP FUNCTION allocations_are_immutable();
DROP TABLE allocations;
