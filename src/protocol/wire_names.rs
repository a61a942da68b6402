//! Fieldless enums that travel as one snake_case word (roles, receipt kinds, error codes).
//!
//! They are read back through their `parse` (serde `try_from = "String"`) rather than a derived
//! visitor: the derived one matches every name twice (as text and as bytes), which cost the WASM
//! bundle more than the enums are worth. [`wire_names!`] writes that code once for all of them.

/// The error of a wire name that is not one of its enum's.
pub(crate) fn unknown_name(kind: &str, raw: &str) -> String {
    format!("unknown {kind} `{raw}`")
}

/// Gives a fieldless enum its wire names: `ALL` (declaration order), `as_str`, `parse`, and the
/// `TryFrom<String>` that serde reads it back through; `$what` names it in the error.
macro_rules! wire_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal,)+ }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The snake_case name used on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            /// The value with this wire name.
            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|value| value.as_str() == raw)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;

            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw)
                    .ok_or_else(|| $crate::protocol::wire_names::unknown_name($what, &raw))
            }
        }
    };
}

pub(crate) use wire_names;
