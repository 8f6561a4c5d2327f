-- One database for the Optuna studies, one for MLflow's backend store (run on first start only).
CREATE DATABASE optuna OWNER slimtune;
CREATE DATABASE mlflow OWNER slimtune;
