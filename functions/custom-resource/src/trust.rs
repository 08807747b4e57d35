//! Which stacks a function acts for: the list its own environment gives, never the event.
//!
//! Anyone allowed to invoke a function can forge an event naming any stack. The function's
//! environment, set per stage by the template (`STACKWRIGHT_STACKS: !Ref AWS::StackId`), says
//! which stacks it serves; a request for any other does nothing (a Create or Update is FAILED
//! naming the variable, a Delete retains).

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
