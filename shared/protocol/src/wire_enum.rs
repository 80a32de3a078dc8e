//! Enums that travel as MessagePack strings.
//!
//! Codes such as [`HelloCode`](crate::HelloCode) and [`ResetCode`](crate::ResetCode) are
//! written as short snake_case strings rather than integers, so a packet capture is
//! readable and a code can be added without renumbering. The [`wire_enum!`] macro
//! defines such an enum together with its wire names, `Display`, `Serialize` and
//! `Deserialize`. An enum declared with `unknown => Variant` decodes any string it does
//! not know as that variant (forward compatibility: a newer peer may send a code this
//! build has never heard of); one without it rejects unknown strings as malformed.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

/// Defines a fieldless enum whose wire form is a fixed string per variant.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $wire:literal,
            )+
        }
        $(unknown => $fallback:ident;)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The string this variant is sent as on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// Parses a wire string. Returns `None` for a string no variant is named by
            /// (decoding maps that to the fallback variant, where the enum has one).
            pub fn from_wire(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                fn parse(s: &str) -> Option<$name> {
                    $name::from_wire(s) $(.or(Some($name::$fallback)))?
                }
                $crate::wire_enum::deserialize_str(deserializer, stringify!($name), parse)
            }
        }
    };
}

pub(crate) use wire_enum;

/// Deserializes a string (borrowed or copied) and maps it through `parse`.
pub(crate) fn deserialize_str<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct StrVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Option<T>,
        _marker: PhantomData<T>,
    }

    impl<T> Visitor<'_> for StrVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a {} string", self.expecting)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }

    deserializer.deserialize_str(StrVisitor {
        expecting,
        parse,
        _marker: PhantomData,
    })
}
