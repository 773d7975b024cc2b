"""Errors whose message is meant for the user, in French."""


class UserError(Exception):
    """Bad input or a refused action; `str(err)` is a French sentence a user can act on."""


class NotFound(UserError):
    pass
