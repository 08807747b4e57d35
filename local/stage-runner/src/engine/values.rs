//! A resource's properties resolved against the template, the stage's parameters and what
//! exists: custom resources from the state, functions from the template, AWS-only resources
//! from the overrides file.

use super::*;

/// Values of resources: custom resources from the state, functions from the template,
/// AWS-only resources from the overrides file.
struct Values<'r> {
    state: &'r StageState,
    functions: &'r BTreeMap<String, Function>,
    versions: &'r BTreeMap<String, String>,
    secrets: &'r BTreeMap<String, String>,
    overrides: &'r Overrides,
    stack: &'r StackInfo,
}

impl Lookup for Values<'_> {
    fn reference(&self, logical_id: &str) -> Option<Value> {
        if let Some(r) = self.state.resources.get(logical_id) {
            return Some(Value::String(r.physical_id.clone()));
        }
        if let Some((function, suffix)) = logical_id.split_once('.') {
            let f = self.functions.get(function)?;
            return match suffix {
                "Version" => self
                    .versions
                    .get(&f.binary)
                    .map(|v| Value::String(v.clone())),
                "Alias" => Some(Value::String(format!(
                    "{}:live",
                    function_arn(self.stack, &f.name)
                ))),
                _ => None,
            };
        }
        if let Some(f) = self.functions.get(logical_id) {
            return Some(Value::String(f.name.clone()));
        }
        if let Some(arn) = self.secrets.get(logical_id) {
            return Some(Value::String(arn.clone()));
        }
        self.overrides
            .resources
            .get(logical_id)
            .and_then(|r| r.reference.clone())
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<Value> {
        if let Some(r) = self.state.resources.get(logical_id) {
            return r.data.get(attribute).cloned();
        }
        if let Some(f) = self.functions.get(logical_id) {
            return (attribute == "Arn").then(|| Value::String(function_arn(self.stack, &f.name)));
        }
        if let Some(arn) = self.secrets.get(logical_id) {
            return matches!(attribute, "Arn" | "Id").then(|| Value::String(arn.clone()));
        }
        self.overrides
            .resources
            .get(logical_id)
            .and_then(|r| r.attributes.get(attribute).cloned())
    }
}

fn function_arn(stack: &StackInfo, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        stack.region, stack.account
    )
}

impl Run<'_> {
    pub(super) fn resolve(
        &mut self,
        logical_id: &str,
        samconfig_values: &BTreeMap<String, String>,
    ) -> Result<(Value, String), Error> {
        let resource = self
            .template
            .resources
            .get(logical_id)
            .cloned()
            .ok_or_else(|| Error::Template(format!("no resource `{logical_id}`")))?;
        let function_id = graph::references(
            resource
                .properties
                .get("ServiceToken")
                .unwrap_or(&Value::Null),
            &self.template,
        )
        .into_iter()
        .find(|r| self.functions.contains_key(r))
        .ok_or_else(|| Error::Intrinsic {
            resource: logical_id.to_owned(),
            message: "its `ServiceToken` does not refer to a function of this template".into(),
        })?;
        let binary = self.functions[&function_id].binary.clone();
        let binaries: Vec<String> = self.functions.values().map(|f| f.binary.clone()).collect();
        for b in binaries {
            self.version(&b);
        }
        let values = self.parameter_values(samconfig_values);
        let template = self.template.clone();
        let ctx = Context::new(&template, &values, &self.stack, Mode::Strict)?;
        let lookup = Values {
            state: &self.state,
            functions: &self.functions,
            versions: &self.versions,
            secrets: &self.secrets,
            overrides: &self.overrides,
            stack: &self.stack,
        };
        let mut properties = ctx.resolve(&resource.properties, logical_id, &lookup)?;
        if let (Some(local), Value::Object(map)) =
            (self.overrides.properties.get(logical_id), &mut properties)
        {
            for (k, v) in local {
                map.insert(k.clone(), v.clone());
            }
        }
        Ok((properties, binary))
    }
}
