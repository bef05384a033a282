//! Form fields with their label, hint and error, and the error summary
//! whose links lead to the fields (RGAA: each error beside its field, in
//! words, and listed at the top).

use maud::{html, Markup};

use super::i18n::{n, t, tr};

/// The errors of a submitted form, in field order.
#[derive(Default, Debug)]
pub struct Errors(Vec<(String, String, String)>);

impl Errors {
    /// Records `message` for field `name` (labelled by text `label_id`).
    pub fn add(&mut self, name: &str, label_id: &str, message: String) {
        if !self.0.iter().any(|(f, _, _)| f == name) {
            self.0.push((name.to_owned(), t(label_id), message));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn of(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _, _)| f == name)
            .map(|(_, _, m)| m.as_str())
    }

    /// The summary at the top of the form (nothing when there is no error).
    /// It is an alert so a screen reader announces it after submission.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.0.is_empty() {
                div class="summary" role="alert" id="erreurs" {
                    h2 { (tr("errors-title", &[("count", n(self.0.len()))])) }
                    ul {
                        @for (field, label, message) in &self.0 {
                            li { a href={ "#f-" (field) } { (label) " : " (message) } }
                        }
                    }
                }
            }
        }
    }
}

/// How a text field looks.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub name: &'a str,
    pub label_id: &'a str,
    pub hint_id: Option<&'a str>,
    pub kind: &'a str,
    pub required: bool,
    pub autocomplete: Option<&'a str>,
    pub short: bool,
}

impl<'a> Input<'a> {
    pub fn text(name: &'a str, label_id: &'a str) -> Self {
        Input {
            name,
            label_id,
            hint_id: None,
            kind: "text",
            required: false,
            autocomplete: None,
            short: false,
        }
    }

    pub fn hint(self, hint_id: &'a str) -> Self {
        Input {
            hint_id: Some(hint_id),
            ..self
        }
    }

    pub fn required(self) -> Self {
        Input {
            required: true,
            ..self
        }
    }

    pub fn kind(self, kind: &'a str) -> Self {
        Input { kind, ..self }
    }

    pub fn short(self) -> Self {
        Input {
            short: true,
            ..self
        }
    }

    pub fn autocomplete(self, value: &'a str) -> Self {
        Input {
            autocomplete: Some(value),
            ..self
        }
    }
}

fn described_by(name: &str, hint: bool, error: bool) -> Option<String> {
    let ids: Vec<String> = [
        hint.then(|| format!("f-{name}-hint")),
        error.then(|| format!("f-{name}-error")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn label_text(label_id: &str, required: bool) -> Markup {
    html! {
        (t(label_id))
        @if required { " *" }
    }
}

/// A labelled text input with its hint and error.
pub fn input(spec: Input<'_>, value: &str, errors: &Errors) -> Markup {
    let error = errors.of(spec.name);
    let id = format!("f-{}", spec.name);
    html! {
        div class="field" {
            label for=(id) { (label_text(spec.label_id, spec.required)) }
            @if let Some(hint) = spec.hint_id {
                span class="hint" id={ (id) "-hint" } { (t(hint)) }
            }
            @if let Some(message) = error {
                p class="error" id={ (id) "-error" } { (message) }
            }
            input type=(spec.kind) id=(id) name=(spec.name) value=(value)
                class=[spec.short.then_some("short")]
                required[spec.required]
                autocomplete=[spec.autocomplete]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[described_by(spec.name, spec.hint_id.is_some(), error.is_some())];
        }
    }
}

/// A labelled multi-line text.
pub fn textarea(name: &str, label_id: &str, value: &str, errors: &Errors) -> Markup {
    let error = errors.of(name);
    let id = format!("f-{name}");
    let control = html! {
        textarea id=(id) name=(name)
            aria-invalid=[error.map(|_| "true")]
            aria-describedby=[described_by(name, false, error.is_some())] { (value) }
    };
    labelled(&id, label_id, error, control)
}

/// A labelled list of `(value, text id)` choices.
pub fn select(
    name: &str,
    label_id: &str,
    options: &[(String, String)],
    chosen: &str,
    errors: &Errors,
) -> Markup {
    let error = errors.of(name);
    let id = format!("f-{name}");
    let control = html! {
        select id=(id) name=(name)
            aria-invalid=[error.map(|_| "true")]
            aria-describedby=[described_by(name, false, error.is_some())] {
            @for (value, text) in options {
                option value=(value) selected[value == chosen] { (text) }
            }
        }
    };
    labelled(&id, label_id, error, control)
}

/// A field: its label, its error (when there is one) and its control.
fn labelled(id: &str, label_id: &str, error: Option<&str>, control: Markup) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (t(label_id)) }
            @if let Some(message) = error {
                p class="error" id={ (id) "-error" } { (message) }
            }
            (control)
        }
    }
}

/// Radio buttons in a fieldset whose legend is `legend_id`.
pub fn radios(
    name: &str,
    legend_id: &str,
    options: &[(String, String)],
    chosen: &str,
    errors: &Errors,
) -> Markup {
    let error = errors.of(name);
    html! {
        fieldset id={ "f-" (name) } aria-describedby=[error.map(|_| format!("f-{name}-error"))] {
            legend { (t(legend_id)) }
            @if let Some(message) = error {
                p class="error" id={ "f-" (name) "-error" } { (message) }
            }
            @for (i, (value, text)) in options.iter().enumerate() {
                div class="choice" {
                    input type="radio" id={ "f-" (name) "-" (i) } name=(name) value=(value) checked[value == chosen];
                    label for={ "f-" (name) "-" (i) } { (text) }
                }
            }
        }
    }
}
