// Imported first by bench/cli.ts (ES modules evaluate in import order): the libraries the bench
// calls (the PKI, the lab) log at warn, so their info lines do not interleave with the tables.
// The lab's daemons keep their own level (MICROK8S_LAB_LOG_LEVEL) in their log files.
process.env.MICROK8S_LOG_LEVEL ??= 'warn';
