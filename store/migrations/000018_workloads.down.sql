DROP TABLE job_results;
DROP TABLE job_workload_inputs;
DROP TABLE job_workloads;
