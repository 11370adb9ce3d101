DROP TABLE job_placements;
