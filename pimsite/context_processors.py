from roles.permissions import acts_as_pim_administrator


def pim(request) -> dict:
    """What the base layout needs: whether to show the admin link. Lazy: pages that do not
    render the navigation pay no query."""
    return {"is_pim_administrator": lambda: acts_as_pim_administrator(request)}
