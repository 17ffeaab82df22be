//! Where a problem is, as staff type it from the recording.

/// An address as the caller gave it. Every part is optional: callers say what they know.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Address {
    /// Calle y número.
    #[sqlx(rename = "address_street")]
    pub street: Option<String>,
    #[sqlx(rename = "address_colonia")]
    pub colonia: Option<String>,
    /// Entre calles.
    #[sqlx(rename = "address_between")]
    pub between: Option<String>,
    /// Referencias: "frente a la primaria", "casa azul".
    #[sqlx(rename = "address_references")]
    pub references: Option<String>,
}

impl Address {
    /// The address on one line, as a crew reads it: "Hidalgo 12, col. Centro, entre Juárez y
    /// Morelos (frente a la primaria)". Empty when nothing was typed.
    pub fn one_line(&self) -> String {
        let part = |p: &Option<String>| {
            p.as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
        };
        let mut line: Vec<String> = Vec::new();
        line.extend(part(&self.street));
        line.extend(part(&self.colonia).map(|c| format!("col. {c}")));
        line.extend(part(&self.between).map(|b| format!("entre {b}")));
        let mut text = line.join(", ");
        if let Some(r) = part(&self.references) {
            text = if text.is_empty() {
                r
            } else {
                format!("{text} ({r})")
            };
        }
        text
    }

    pub fn is_empty(&self) -> bool {
        self.one_line().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_reads_on_one_line_with_what_is_known() {
        let full = Address {
            street: Some("Hidalgo 12".into()),
            colonia: Some("Centro".into()),
            between: Some("Juárez y Morelos".into()),
            references: Some("frente a la primaria".into()),
        };
        assert_eq!(
            full.one_line(),
            "Hidalgo 12, col. Centro, entre Juárez y Morelos (frente a la primaria)"
        );
        let only_reference = Address {
            references: Some(" junto al pozo ".into()),
            street: Some("  ".into()),
            ..Address::default()
        };
        assert_eq!(only_reference.one_line(), "junto al pozo");
        assert!(Address::default().is_empty());
    }
}
