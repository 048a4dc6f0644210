"""Platform adapters: translate chat events to core requests and core views to chat UI."""
