-- The stand-in for migration 000014 (see its up file).
SELECT 1;
