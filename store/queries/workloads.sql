-- name: InsertJobWorkload :exec
INSERT INTO job_workloads (job_id, argv) VALUES (@job_id, @argv);

-- name: InsertJobWorkloadInput :exec
INSERT INTO job_workload_inputs (job_id, name, content, size_bytes)
VALUES (@job_id, @name, @content, @size_bytes);

-- name: GetJobWorkloadArgv :one
SELECT argv FROM job_workloads WHERE job_id = @job_id;

-- name: ListJobWorkloadInputs :many
SELECT name, content FROM job_workload_inputs
WHERE job_id = @job_id
ORDER BY name;

-- name: ListJobWorkloadInputSizes :many
SELECT name, size_bytes FROM job_workload_inputs
WHERE job_id = @job_id
ORDER BY name;

-- name: InsertJobResult :execrows
INSERT INTO job_results (job_id, exit_code, exit_signal, reason,
    output_sha256, output, output_size, truncated, submitted_at)
VALUES (@job_id, @exit_code, @exit_signal, @reason, @output_sha256,
    @output, @output_size, @truncated, @submitted_at)
ON CONFLICT (job_id) DO NOTHING;

-- name: GetJobResult :one
SELECT job_id, exit_code, exit_signal, reason, output_sha256, output,
    output_size, truncated, submitted_at
FROM job_results
WHERE job_id = @job_id;

-- name: GetJobResultInfo :one
SELECT job_id, exit_code, exit_signal, reason, output_sha256, output_size,
    truncated, submitted_at
FROM job_results
WHERE job_id = @job_id;
