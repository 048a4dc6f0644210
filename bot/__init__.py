"""mergebot's platform-neutral core: jobs, gathering, generation, storage, CLI."""
