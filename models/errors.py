"""Every error phoneguard raises on purpose; web/errors.py maps them to HTTP once."""


class PhoneguardError(Exception):
    """Raised for any failure phoneguard expects and can explain."""


class ConfigError(PhoneguardError):
    """Raised when an environment variable is missing or has a bad value."""


class BadRequest(PhoneguardError):
    """Raised when a request body cannot be read as JSON."""


class Unauthorized(PhoneguardError):
    """Raised when a request carries no valid credentials."""


class PayloadTooLarge(PhoneguardError):
    """Raised when a request body is larger than the configured limit."""


class InvalidPayload(PhoneguardError):
    """Raised when a JSON body lacks required fields or has malformed ones."""


class UnknownSession(InvalidPayload):
    """Raised when a session id maps to no workspace, or to more than one."""


class SessionNotFound(PhoneguardError):
    """Raised when no account has the session in that workspace."""


class SlowBody(PhoneguardError):
    """Raised when a request body stops arriving before it is whole."""


class Busy(PhoneguardError):
    """Raised when the web process has no room for a request now; a retry shortly will do."""


class StoreUnavailable(PhoneguardError):
    """Raised when Redis or the broker cannot be reached."""
