"""Access reviews: named reviewers confirm or remove, for a period, each eligible and active
assignment of chosen roles; then the result is applied through the assignment services.

choices and schedule: what a review is made of and when its occurrences run; models: the review,
its occurrences and their items (a snapshot taken when an occurrence starts); recommendations:
keep or remove from actual use; services: every change; selectors: shared reads; tasks: the
django-q2 work that starts, reminds, closes and applies on time."""
