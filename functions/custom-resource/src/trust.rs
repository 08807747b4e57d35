//! Which stacks a function acts for: the list its own environment gives, never the event.
//!
//! Anyone allowed to invoke a function can forge an event naming any stack. The function's
//! environment, set per stage by the template (`STACKWRIGHT_STACKS: !Ref AWS::StackId`), says
//! which stacks it serves; a request for any other does nothing (a Create or Update is FAILED
//! naming the variable, a Delete retains).
//!
//! What a request may destroy is the stage's choice too: the [`Switch`]es in
//! [`ALLOW_VARIABLE`], set per stage from the template's `StageSettings` mapping, never the
//! event's properties alone.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The variable that lists the stacks a function acts for.
pub const STACKS_VARIABLE: &str = "STACKWRIGHT_STACKS";

/// The stacks a function acts for: stack ARNs, comma-separated, each matched exactly or, with
/// a trailing `*`, as a prefix (`arn:aws:cloudformation:eu-west-1:123456789012:stack/app-*`
/// covers `app` and the nested stacks whose names extend it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackList {
    patterns: Vec<String>,
}

impl StackList {
    /// The list in [`STACKS_VARIABLE`]; `None` when it is unset or empty, in which case the
    /// function acts for no stack.
    pub fn from_env() -> Option<Self> {
        let list = std::env::var(STACKS_VARIABLE).ok()?;
        let parsed = Self::parse(&list);
        (!parsed.patterns.is_empty()).then_some(parsed)
    }

    /// A list from its text: comma-separated stack ARNs or prefixes ending in `*`.
    pub fn parse(text: &str) -> Self {
        Self {
            patterns: text
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Adds one stack ARN or prefix ending in `*`.
    pub fn add(&mut self, pattern: &str) {
        self.patterns.push(pattern.trim().to_owned());
    }

    /// Whether the function acts for `stack_id`.
    pub fn allows(&self, stack_id: &str) -> bool {
        !stack_id.is_empty()
            && self
                .patterns
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => stack_id.starts_with(prefix),
                    None => stack_id == pattern,
                })
    }
}

impl fmt::Display for StackList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns.join(","))
    }
}

/// The reason a Create or Update for a stack the function does not serve is FAILED with.
pub fn not_listed(stack_id: &str, listed: Option<&StackList>) -> String {
    match listed {
        None => format!(
            "this function acts only for the stacks listed in its `{STACKS_VARIABLE}` \
             environment variable, and it is unset: nothing was done. Set it to the stack's ARN \
             (the template sets `!Ref AWS::StackId`)"
        ),
        Some(_) => format!(
            "this function acts only for the stacks listed in its `{STACKS_VARIABLE}` \
             environment variable, and stack `{stack_id}` is not one: nothing was done. Add it \
             (a trailing `*` matches a prefix) or invoke the function that serves it"
        ),
    }
}

/// The variable that lists the destructive switches a function's stage allows.
pub const ALLOW_VARIABLE: &str = "STACKWRIGHT_ALLOW";

/// A destructive or weakening choice a resource's properties can ask for, which takes effect
/// only when the function's stage allows it ([`ALLOW_VARIABLE`]).
///
/// Asked for without being allowed: a Create is FAILED naming the switch and the variable; an
/// Update goes on as if the switch were off (it may be a rollback, which must not fail) and
/// names it in `Data.Ignored`; a Delete retains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Switch {
    /// `db-migration`: `AllowDown: true` (run down scripts, which may drop tables).
    AllowDown,
    /// `db-migration`: `OnDelete: DropDatabase`.
    DropDatabase,
    /// `secret-seeder`: `OnDelete: Delete` or `ForceDelete`.
    DeleteSecret,
    /// `secret-seeder`: `Adopt: Always` (take over a secret this stack did not make).
    AdoptAnySecret,
    /// `http-resource`: deleting the remote object on Delete.
    DeleteRemote,
    /// Any `Tls` other than `VerifyFull` (a database or an API reached without a verified
    /// certificate).
    InsecureTls,
    /// `db-user`: `OnDelete: Drop`.
    DropUser,
}

impl Switch {
    /// Every switch, in the order the README lists them.
    pub const ALL: [Switch; 7] = [
        Self::AllowDown,
        Self::DropDatabase,
        Self::DeleteSecret,
        Self::AdoptAnySecret,
        Self::DeleteRemote,
        Self::InsecureTls,
        Self::DropUser,
    ];

    /// The switch's name in [`ALLOW_VARIABLE`].
    pub fn name(self) -> &'static str {
        match self {
            Self::AllowDown => "AllowDown",
            Self::DropDatabase => "DropDatabase",
            Self::DeleteSecret => "DeleteSecret",
            Self::AdoptAnySecret => "AdoptAnySecret",
            Self::DeleteRemote => "DeleteRemote",
            Self::InsecureTls => "InsecureTls",
            Self::DropUser => "DropUser",
        }
    }
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Switch {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|switch| switch.name().eq_ignore_ascii_case(s.trim()))
            .ok_or(())
    }
}

/// The switches a function's stage allows. Empty (nothing destructive) when
/// [`ALLOW_VARIABLE`] is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowed {
    switches: BTreeSet<Switch>,
}

impl Allowed {
    /// The switches in [`ALLOW_VARIABLE`]; an unknown name is logged and ignored (it allows
    /// nothing).
    pub fn from_env() -> Self {
        let text = std::env::var(ALLOW_VARIABLE).unwrap_or_default();
        let (allowed, unknown) = Self::parse(&text);
        for name in unknown {
            tracing::warn!(
                switch = name,
                "`{ALLOW_VARIABLE}` names a switch that does not exist; it allows nothing"
            );
        }
        allowed
    }

    /// The switches named in `text` (comma-separated, case-insensitive; `none` names none),
    /// and the names that are not switches.
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut allowed = Self::default();
        let mut unknown = Vec::new();
        // `none` says "nothing" explicitly (a template mapping cannot hold an empty value).
        for name in text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("none"))
        {
            match name.parse::<Switch>() {
                Ok(switch) => {
                    allowed.switches.insert(switch);
                }
                Err(()) => unknown.push(name.to_owned()),
            }
        }
        (allowed, unknown)
    }

    /// Every switch: for tests and the local stand-ins.
    pub fn all() -> Self {
        Self {
            switches: Switch::ALL.into_iter().collect(),
        }
    }

    /// Allows `switch` too.
    pub fn allow(&mut self, switch: Switch) {
        self.switches.insert(switch);
    }

    /// Whether the stage allows `switch`.
    pub fn allows(&self, switch: Switch) -> bool {
        self.switches.contains(&switch)
    }

    /// Those of `asked` the stage does not allow, each once, in a stable order.
    pub fn refused(&self, asked: &[Switch]) -> Vec<Switch> {
        let refused: BTreeSet<Switch> =
            asked.iter().copied().filter(|s| !self.allows(*s)).collect();
        refused.into_iter().collect()
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.switches.iter().map(|s| s.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// The reason a Create asking for switches its stage does not allow is FAILED with.
pub fn not_allowed(refused: &[Switch]) -> String {
    let names: Vec<String> = refused.iter().map(|s| format!("`{s}`")).collect();
    let (noun, them) = if refused.len() == 1 {
        ("switch", "it")
    } else {
        ("switches", "them")
    };
    format!(
        "the properties ask for the {noun} {}, which this function's stage does not allow \
         (`{ALLOW_VARIABLE}` in its environment, set per stage by the template's \
         `StageSettings` mapping): nothing was done. Remove {them} from the properties, or allow \
         {them} for this stage in the template",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_parse_by_name_and_unknown_names_allow_nothing() {
        let (allowed, unknown) = Allowed::parse(" allowdown, DeleteSecret ,, Dragon ");
        assert!(allowed.allows(Switch::AllowDown));
        assert!(allowed.allows(Switch::DeleteSecret));
        assert!(!allowed.allows(Switch::DropDatabase));
        assert_eq!(unknown, ["Dragon"]);
        assert_eq!(allowed.to_string(), "AllowDown,DeleteSecret");
        assert_eq!(Allowed::parse("").0, Allowed::default());
        assert_eq!(Allowed::parse("none"), (Allowed::default(), Vec::new()));
        for switch in Switch::ALL {
            assert_eq!(switch.name().parse::<Switch>(), Ok(switch));
            assert!(Allowed::all().allows(switch));
        }
    }

    #[test]
    fn refused_lists_each_switch_once() {
        let (allowed, _) = Allowed::parse("InsecureTls");
        assert_eq!(
            allowed.refused(&[
                Switch::DropDatabase,
                Switch::InsecureTls,
                Switch::DropDatabase
            ]),
            [Switch::DropDatabase]
        );
        let reason = not_allowed(&[Switch::DropDatabase]);
        assert!(
            reason.contains("switch `DropDatabase`") && reason.contains("`STACKWRIGHT_ALLOW`"),
            "{reason}"
        );
        assert!(not_allowed(&[Switch::AllowDown, Switch::DeleteSecret]).contains("switches"));
    }

    const APP: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/app/1f2e";

    #[test]
    fn stacks_match_exactly_or_by_a_trailing_star() {
        let list = StackList::parse(&format!(
            " {APP} , arn:aws:cloudformation:eu-west-1:123456789012:stack/app-*"
        ));
        assert!(list.allows(APP));
        assert!(
            list.allows("arn:aws:cloudformation:eu-west-1:123456789012:stack/app-Nested-1AB/9")
        );
        assert!(!list.allows("arn:aws:cloudformation:eu-west-1:123456789012:stack/app/other-uuid"));
        assert!(!list.allows("arn:aws:cloudformation:eu-west-1:999999999999:stack/app/1f2e"));
        assert!(!list.allows(""));
        assert!(!StackList::parse("").allows(APP));
        assert!(!StackList::parse(" , ").allows(APP));
    }

    #[test]
    fn reasons_name_the_variable() {
        assert!(not_listed(APP, None).contains("`STACKWRIGHT_STACKS`"));
        let listed = StackList::parse("x");
        let reason = not_listed(APP, Some(&listed));
        assert!(
            reason.contains(APP) && reason.contains("`STACKWRIGHT_STACKS`"),
            "{reason}"
        );
    }
}
