DROP TABLE usage_meters;
DROP TABLE usage_records;
