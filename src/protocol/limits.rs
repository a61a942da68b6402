//! Numeric limits of the wire contract. The server enforces them; the client uses the same
//! numbers to refuse bad input before it is sent.

/// Longest message body, in characters (Unicode scalar values) after trimming.
pub const MAX_BODY_CHARS: usize = 4000;
/// Largest WebSocket frame the server accepts, in bytes. Larger frames close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest `limit` of a `history` request; larger values are clamped to this.
pub const MAX_HISTORY_LIMIT: u32 = 100;
/// `limit` of a `history` request that names none.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;
/// Username length bounds, in characters.
pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
/// Password length bounds, in characters. The upper bound keeps hashing cost bounded.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 1024;
/// Longest `client_msg_id`, in bytes.
pub const CLIENT_MSG_ID_MAX: usize = 64;
/// Longest customer display name on the support page, in characters.
pub const CUSTOMER_NAME_MAX: usize = 64;

/// WebSocket close codes the server uses, so clients can tell the reasons apart.
pub mod close {
    /// Server shutting down, or the connection was idle too long.
    pub const GOING_AWAY: u16 = 1001;
    /// The session was revoked (logout) or expired.
    pub const POLICY: u16 = 1008;
    /// A frame larger than [`super::MAX_FRAME_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// The client did not read its frames fast enough and its queue overflowed.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}
