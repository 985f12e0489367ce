"""Modal and full screens: job detail, confirmation, prompt, new job, help."""
