DROP INDEX ledger_postings_account_idx;
DROP TABLE ledger_postings;
DROP TABLE ledger_transactions;
DROP TABLE accounts;
