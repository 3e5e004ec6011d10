//! Who a request acts as, and what that lets it see.

/// The operator (a key of `api.keys`: every customer, `/metrics`, the quarantine) or one
/// customer (its own jobs, grids and uploads only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator,
    Customer { customer: String, key_id: String },
}

impl Principal {
    /// The customer this principal is limited to; None for the operator.
    pub fn customer(&self) -> Option<&str> {
        match self {
            Principal::Operator => None,
            Principal::Customer { customer, .. } => Some(customer),
        }
    }

    /// Whether this principal may see or act on `customer`'s data.
    pub fn may_see(&self, customer: &str) -> bool {
        self.customer().is_none_or(|own| own == customer)
    }

    /// How logs and job records name the key that acted (never the key itself).
    pub fn label(&self) -> String {
        match self {
            Principal::Operator => "operator".into(),
            Principal::Customer { customer, key_id } => format!("{customer}:{key_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Principal;

    #[test]
    fn a_customer_sees_only_its_own_and_the_operator_all() {
        let alice = Principal::Customer {
            customer: "alice".into(),
            key_id: "k1".into(),
        };
        assert!(alice.may_see("alice"));
        assert!(!alice.may_see("carol"));
        assert!(!alice.may_see("alic"));
        assert!(Principal::Operator.may_see("carol"));
        assert_eq!(alice.label(), "alice:k1");
        assert_eq!(Principal::Operator.label(), "operator");
    }
}
