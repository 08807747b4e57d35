//! CloudFormation's intrinsic functions, resolved the way CloudFormation resolves them for a
//! resource's properties: `Ref` (parameters, pseudo parameters, resources), `Fn::Sub`,
//! `Fn::Join`, `Fn::If` with `Conditions`, `Fn::FindInMap`, `Fn::GetAtt`, `Fn::Select`,
//! `Fn::Split`, `Fn::ToJsonString`, and the condition functions.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::Error;
use crate::template::Template;

/// What to do with an intrinsic this resolver does not implement, or a value it cannot know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An error naming the intrinsic and the resource (the local runner).
    Strict,
    /// A placeholder string such as `<Fn::ImportValue>` (template checks, where only the shape
    /// of the properties matters).
    Lenient,
}

/// Values of resources for `Ref` and `Fn::GetAtt`.
pub trait Lookup {
    /// `Ref` of a resource (SAM's `Function.Version` included).
    fn reference(&self, logical_id: &str) -> Option<Value>;
    /// `Fn::GetAtt` of a resource.
    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<Value>;
}

/// A [`Lookup`] that knows nothing: every resource value is a placeholder (lenient mode).
pub struct NoResources;

impl Lookup for NoResources {
    fn reference(&self, _: &str) -> Option<Value> {
        None
    }
    fn attribute(&self, _: &str, _: &str) -> Option<Value> {
        None
    }
}

/// Parameters, pseudo parameters and conditions for one stack of one stage.
#[derive(Debug, Clone)]
pub struct Context<'t> {
    template: &'t Template,
    parameters: BTreeMap<String, Value>,
    pseudo: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
    mode: Mode,
}

/// The stack a [`Context`] stands for.
#[derive(Debug, Clone)]
pub struct StackInfo {
    /// Stack name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Account id.
    pub account: String,
    /// Stack ARN.
    pub stack_id: String,
}

impl<'t> Context<'t> {
    /// Resolves the template's parameters from `values` (over their `Default`s), checks
    /// `AllowedValues`, and evaluates every condition.
    ///
    /// # Errors
    ///
    /// [`Error::Intrinsic`] for a parameter without a value, a value outside `AllowedValues`,
    /// or a condition that cannot be evaluated.
    pub fn new(
        template: &'t Template,
        values: &BTreeMap<String, String>,
        stack: &StackInfo,
        mode: Mode,
    ) -> Result<Self, Error> {
        let mut parameters = BTreeMap::new();
        for (name, definition) in &template.parameters {
            let given = values
                .get(name)
                .cloned()
                .or_else(|| match definition.get("Default") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Null) | None => None,
                    Some(other) => Some(other.to_string()),
                });
            let Some(text) = given else {
                if mode == Mode::Lenient {
                    parameters.insert(name.clone(), Value::String(format!("<{name}>")));
                    continue;
                }
                return Err(Error::Intrinsic {
                    resource: "Parameters".into(),
                    message: format!(
                        "parameter `{name}` has no value: give it in samconfig.toml's `parameter_overrides` or a `Default`"
                    ),
                });
            };
            if let Some(allowed) = definition.get("AllowedValues").and_then(Value::as_array)
                && !allowed.iter().any(|a| scalar_text(a) == text)
            {
                return Err(Error::Intrinsic {
                    resource: "Parameters".into(),
                    message: format!(
                        "parameter `{name}` is `{text}`, not one of its AllowedValues {}",
                        Value::Array(allowed.clone())
                    ),
                });
            }
            let kind = definition
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("String");
            let value = if kind.starts_with("List<") || kind == "CommaDelimitedList" {
                Value::Array(
                    text.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(Value::from)
                        .collect(),
                )
            } else {
                Value::String(text)
            };
            parameters.insert(name.clone(), value);
        }
        let pseudo = [
            ("AWS::StackName", stack.name.clone()),
            ("AWS::StackId", stack.stack_id.clone()),
            ("AWS::Region", stack.region.clone()),
            ("AWS::AccountId", stack.account.clone()),
            ("AWS::Partition", "aws".to_owned()),
            ("AWS::URLSuffix", "amazonaws.com".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect();
        let mut context = Self {
            template,
            parameters,
            pseudo,
            conditions: BTreeMap::new(),
            mode,
        };
        let mut conditions = BTreeMap::new();
        for name in template.conditions.keys() {
            let value = context.evaluate_condition(name, &mut BTreeSet::new())?;
            conditions.insert(name.clone(), value);
        }
        context.conditions = conditions;
        Ok(context)
    }

    /// The resolved parameter values.
    pub fn parameters(&self) -> &BTreeMap<String, Value> {
        &self.parameters
    }

    /// Whether condition `name` holds.
    ///
    /// # Errors
    ///
    /// [`Error::Intrinsic`] when the template has no such condition.
    pub fn condition(&self, name: &str) -> Result<bool, Error> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| Error::Intrinsic {
                resource: "Conditions".into(),
                message: format!("unknown condition `{name}`"),
            })
    }

    fn evaluate_condition(
        &self,
        name: &str,
        visiting: &mut BTreeSet<String>,
    ) -> Result<bool, Error> {
        if let Some(v) = self.conditions.get(name) {
            return Ok(*v);
        }
        let Some(expression) = self.template.conditions.get(name) else {
            return Err(self.error("Conditions", format!("unknown condition `{name}`")));
        };
        if !visiting.insert(name.to_owned()) {
            return Err(self.error("Conditions", format!("condition `{name}` refers to itself")));
        }
        let value = self.boolean(expression, "Conditions", visiting)?;
        visiting.remove(name);
        Ok(value)
    }

    fn boolean(
        &self,
        value: &Value,
        resource: &str,
        visiting: &mut BTreeSet<String>,
    ) -> Result<bool, Error> {
        let Some((function, args)) = single(value) else {
            return match value {
                Value::Bool(b) => Ok(*b),
                Value::String(s) if s == "true" => Ok(true),
                Value::String(s) if s == "false" => Ok(false),
                other => Err(self.error(resource, format!("expected a condition, got `{other}`"))),
            };
        };
        let list = |n: usize| -> Result<&Vec<Value>, Error> {
            args.as_array()
                .filter(|a| n == 0 || a.len() == n)
                .ok_or_else(|| {
                    self.error(
                        resource,
                        format!(
                            "`{function}` takes a list{}",
                            if n > 0 {
                                format!(" of {n}")
                            } else {
                                String::new()
                            }
                        ),
                    )
                })
        };
        match function {
            "Fn::Equals" => {
                let args = list(2)?;
                let a = self.resolve(&args[0], resource, &NoResources)?;
                let b = self.resolve(&args[1], resource, &NoResources)?;
                Ok(scalar_text(&a) == scalar_text(&b))
            }
            "Fn::Not" => Ok(!self.boolean(&list(1)?[0], resource, visiting)?),
            "Fn::And" => {
                for a in list(0)? {
                    if !self.boolean(a, resource, visiting)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Fn::Or" => {
                for a in list(0)? {
                    if self.boolean(a, resource, visiting)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            "Condition" => {
                let name = args
                    .as_str()
                    .ok_or_else(|| self.error(resource, "`Condition` takes a name".into()))?;
                self.evaluate_condition(name, visiting)
            }
            other => Err(self.error(resource, format!("`{other}` is not a condition function"))),
        }
    }

    fn error(&self, resource: &str, message: String) -> Error {
        Error::Intrinsic {
            resource: resource.to_owned(),
            message,
        }
    }

    /// Resolves every intrinsic in `value`, a property of `resource`; `AWS::NoValue` removes
    /// the key or list item that holds it.
    ///
    /// # Errors
    ///
    /// [`Error::Intrinsic`] naming the intrinsic and `resource` (strict mode), for unsupported
    /// intrinsics and references that cannot be resolved.
    pub fn resolve(
        &self,
        value: &Value,
        resource: &str,
        lookup: &dyn Lookup,
    ) -> Result<Value, Error> {
        Ok(self
            .resolve_opt(value, resource, lookup)?
            .unwrap_or(Value::Null))
    }

    /// As [`Context::resolve`]; `None` stands for `AWS::NoValue`.
    fn resolve_opt(
        &self,
        value: &Value,
        resource: &str,
        lookup: &dyn Lookup,
    ) -> Result<Option<Value>, Error> {
        if let Some((function, args)) = single(value)
            && (function == "Ref" || function.starts_with("Fn::") || function == "Condition")
        {
            return self.function(function, args, resource, lookup);
        }
        Ok(Some(match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.resolve_opt(v, resource, lookup)? {
                        out.insert(k.clone(), v);
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out = Vec::new();
                for v in items {
                    if let Some(v) = self.resolve_opt(v, resource, lookup)? {
                        out.push(v);
                    }
                }
                Value::Array(out)
            }
            other => other.clone(),
        }))
    }

    fn unknown(&self, what: String, resource: &str) -> Result<Option<Value>, Error> {
        match self.mode {
            Mode::Lenient => Ok(Some(Value::String(format!("<{what}>")))),
            Mode::Strict => Err(self.error(resource, format!("cannot resolve {what}"))),
        }
    }

    fn function(
        &self,
        function: &str,
        args: &Value,
        resource: &str,
        lookup: &dyn Lookup,
    ) -> Result<Option<Value>, Error> {
        let list = |args: &Value, n: usize| -> Result<Vec<Value>, Error> {
            match args {
                Value::Array(a)
                    if a.len() == n
                        || (function == "Fn::FindInMap" && a.len() == 4)
                        || (function == "Fn::Sub" && n == 2) =>
                {
                    Ok(a.clone())
                }
                _ => Err(self.error(
                    resource,
                    format!("`{function}` takes a list of {n}, got `{args}`"),
                )),
            }
        };
        match function {
            "Ref" => {
                let name = args.as_str().ok_or_else(|| {
                    self.error(resource, format!("`Ref` takes a name, got `{args}`"))
                })?;
                if name == "AWS::NoValue" {
                    return Ok(None);
                }
                if let Some(v) = self.parameters.get(name).or_else(|| self.pseudo.get(name)) {
                    return Ok(Some(v.clone()));
                }
                if let Some(v) = lookup.reference(name) {
                    return Ok(Some(v));
                }
                let base = name.split('.').next().unwrap_or(name);
                if !self.template.resources.contains_key(base) {
                    return Err(self.error(
                        resource,
                        format!(
                            "`Ref` to `{name}`, which is no parameter, pseudo parameter or resource"
                        ),
                    ));
                }
                self.unknown(format!("Ref {name}"), resource)
            }
            "Fn::GetAtt" => {
                let (target, attribute) = match args {
                    Value::Array(a) if a.len() == 2 => (
                        self.text(&a[0], resource, lookup)?,
                        self.text(&a[1], resource, lookup)?,
                    ),
                    Value::String(s) => {
                        let (t, a) = s.split_once('.').unwrap_or((s, ""));
                        (t.to_owned(), a.to_owned())
                    }
                    _ => {
                        return Err(self.error(
                            resource,
                            format!("`Fn::GetAtt` takes [resource, attribute], got `{args}`"),
                        ));
                    }
                };
                if !self.template.resources.contains_key(&target) {
                    return Err(self.error(
                        resource,
                        format!("`Fn::GetAtt` of `{target}`, which is not a resource"),
                    ));
                }
                match lookup.attribute(&target, &attribute) {
                    Some(v) => Ok(Some(v)),
                    None => self.unknown(format!("Fn::GetAtt {target}.{attribute}"), resource),
                }
            }
            "Fn::Sub" => {
                let (text, vars) = match args {
                    Value::String(s) => (s.clone(), Map::new()),
                    Value::Array(_) => {
                        let a = list(args, 2)?;
                        let vars = match self.resolve(&a[1], resource, lookup)? {
                            Value::Object(m) => m,
                            _ => Map::new(),
                        };
                        (self.text(&a[0], resource, lookup)?, vars)
                    }
                    _ => {
                        return Err(self.error(
                            resource,
                            format!(
                                "`Fn::Sub` takes a string or [string, variables], got `{args}`"
                            ),
                        ));
                    }
                };
                self.substitute(&text, &vars, resource, lookup)
                    .map(|s| Some(Value::String(s)))
            }
            "Fn::Join" => {
                let a = list(args, 2)?;
                let delimiter = self.text(&a[0], resource, lookup)?;
                let items = match self.resolve(&a[1], resource, lookup)? {
                    Value::Array(items) => items,
                    other => {
                        return Err(self.error(
                            resource,
                            format!("`Fn::Join` needs a list of values, got `{other}`"),
                        ));
                    }
                };
                let parts: Vec<String> = items.iter().map(scalar_text).collect();
                Ok(Some(Value::String(parts.join(&delimiter))))
            }
            "Fn::If" => {
                let a = list(args, 3)?;
                let name = a[0].as_str().ok_or_else(|| {
                    self.error(resource, "`Fn::If` needs a condition name first".into())
                })?;
                let branch = if self.condition(name)? { &a[1] } else { &a[2] };
                self.resolve_opt(branch, resource, lookup)
            }
            "Fn::FindInMap" => {
                let a = list(args, 3)?;
                let keys: Vec<String> = a[..3]
                    .iter()
                    .map(|k| self.text(k, resource, lookup))
                    .collect::<Result<_, _>>()?;
                let found = self
                    .template
                    .mappings
                    .get(&keys[0])
                    .and_then(|m| m.get(&keys[1]))
                    .and_then(|m| m.get(&keys[2]));
                match (found, a.get(3)) {
                    (Some(v), _) => self.resolve_opt(v, resource, lookup),
                    (None, Some(default)) => {
                        let default = default.get("DefaultValue").unwrap_or(default);
                        self.resolve_opt(default, resource, lookup)
                    }
                    (None, None) => Err(self.error(
                        resource,
                        format!(
                            "`Fn::FindInMap` found nothing at {}/{}/{}",
                            keys[0], keys[1], keys[2]
                        ),
                    )),
                }
            }
            "Fn::Select" => {
                let a = list(args, 2)?;
                let index: usize = scalar_text(&self.resolve(&a[0], resource, lookup)?)
                    .parse()
                    .map_err(|_| {
                        self.error(resource, "`Fn::Select` needs a numeric index".into())
                    })?;
                match self.resolve(&a[1], resource, lookup)? {
                    Value::Array(items) => items.get(index).cloned().map(Some).ok_or_else(|| {
                        self.error(
                            resource,
                            format!("`Fn::Select` index {index} is out of range"),
                        )
                    }),
                    Value::String(s) if self.mode == Mode::Lenient => Ok(Some(Value::String(s))),
                    other => Err(self.error(
                        resource,
                        format!("`Fn::Select` needs a list, got `{other}`"),
                    )),
                }
            }
            "Fn::Split" => {
                let a = list(args, 2)?;
                let delimiter = self.text(&a[0], resource, lookup)?;
                let text = self.text(&a[1], resource, lookup)?;
                Ok(Some(Value::Array(
                    text.split(delimiter.as_str()).map(Value::from).collect(),
                )))
            }
            "Fn::ToJsonString" => {
                let inner = self.resolve(args, resource, lookup)?;
                Ok(Some(Value::String(inner.to_string())))
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                let mut wrapped = Map::new();
                wrapped.insert(function.to_owned(), args.clone());
                self.boolean(&Value::Object(wrapped), resource, &mut BTreeSet::new())
                    .map(|b| Some(Value::Bool(b)))
            }
            other => match self.mode {
                Mode::Lenient => Ok(Some(Value::String(format!("<{other}>")))),
                Mode::Strict => {
                    Err(self.error(resource, format!("unsupported intrinsic `{other}`")))
                }
            },
        }
    }

    /// Resolves `value` to a string (numbers and booleans as CloudFormation prints them).
    fn text(&self, value: &Value, resource: &str, lookup: &dyn Lookup) -> Result<String, Error> {
        Ok(scalar_text(&self.resolve(value, resource, lookup)?))
    }

    fn substitute(
        &self,
        text: &str,
        vars: &Map<String, Value>,
        resource: &str,
        lookup: &dyn Lookup,
    ) -> Result<String, Error> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.error(
                    resource,
                    format!("unclosed `${{` in `Fn::Sub` string `{text}`"),
                ));
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&scalar_text(v));
            } else if let Some((target, attribute)) = name.split_once('.')
                && self.template.resources.contains_key(target)
            {
                let mut call = Map::new();
                call.insert(
                    "Fn::GetAtt".into(),
                    Value::Array(vec![target.into(), attribute.into()]),
                );
                out.push_str(&self.text(&Value::Object(call), resource, lookup)?);
            } else {
                let mut call = Map::new();
                call.insert("Ref".into(), Value::String(name.to_owned()));
                out.push_str(&self.text(&Value::Object(call), resource, lookup)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `{"Fn::X": args}`: the function and its arguments.
fn single(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, v)| (k.as_str(), v))
}

/// A scalar as CloudFormation renders it into a string.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
