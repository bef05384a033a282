//! Importing a spreadsheet from the page (`/importer`): the CLI's rules
//! exactly (`mutua_sheet::import`: encodings, separators, French column
//! names, every mistake of a row), so the same file gives the same report
//! from `mutua import` and from here. The file comes as a multipart upload
//! of at most [`MAX_UPLOAD_BYTES`]; a file that cannot be read, or whose
//! header is wrong, publishes nothing; a bad row is refused whole and the
//! good ones go through the node's own import (`api::listings::import_one`,
//! as `POST /v1/listings/import`), so nothing already stored is lost.

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use mutua_api::ImportRow;
use mutua_sheet::columns::MANDATORY;
use mutua_sheet::import::{self, Counts, RowReport};

use super::forms::{select, Errors};
use super::i18n::{n, s, t, tr};
use super::{error_page, internal, layout, to_sign_in, Shared, Visitor, Web};
use crate::api::unix_now;

/// The largest file accepted (and the whole upload's bound): far above a
/// commune's inventory, small enough for the node's memory.
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;

/// The upload's own fields, as posted.
#[derive(Default)]
struct Upload {
    csrf: String,
    collectivity: String,
    dry_run: bool,
    all_or_nothing: bool,
    file_name: String,
    bytes: Vec<u8>,
}

/// Why an upload could not be read.
enum UploadError {
    TooLarge,
    Unreadable,
}

impl From<MultipartError> for UploadError {
    fn from(e: MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge
        } else {
            UploadError::Unreadable
        }
    }
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, UploadError> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await? {
        match field.name().unwrap_or("") {
            "file" => {
                upload.file_name = field.file_name().unwrap_or("").to_owned();
                upload.bytes = field.bytes().await?.to_vec();
            }
            "csrf" => upload.csrf = field.text().await?,
            "collectivity" => upload.collectivity = field.text().await?,
            "dry_run" => upload.dry_run = !field.text().await?.is_empty(),
            "all_or_nothing" => upload.all_or_nothing = !field.text().await?.is_empty(),
            _ => {}
        }
    }
    Ok(upload)
}

/// The form, with the export links below it.
fn form_page(web: &Web, visitor: &Visitor, chosen: &str, errors: &Errors) -> Response {
    let collectivities: Vec<(String, String)> = web
        .acting_for(visitor)
        .into_iter()
        .map(|c| (c.publisher, c.name))
        .collect();
    let mandatory: Vec<&str> = MANDATORY.iter().map(|f| f.french_name()).collect();
    let file_error = errors.of("file");
    let body: Markup = html! {
        p { (t("import-intro")) }
        p { (tr("import-columns", &[("columns", s(mandatory.join(", ")))])) }
        (errors.summary())
        form method="post" action="/importer" enctype="multipart/form-data" novalidate {
            (layout::csrf_field(visitor))
            @if collectivities.len() > 1 {
                (select("collectivity", "publish-collectivity", &collectivities, chosen, errors))
            } @else {
                input type="hidden" name="collectivity" value=(chosen);
            }
            div class="field" {
                label for="f-file" { (t("import-file")) " *" }
                span class="hint" id="f-file-hint" { (tr("import-file-hint", &[("size", n(MAX_UPLOAD_BYTES / (1024 * 1024)))])) }
                @if let Some(message) = file_error {
                    p class="error" id="f-file-error" { (message) }
                }
                input type="file" id="f-file" name="file" required
                    accept=".csv,.tsv,.txt,.ods,.xlsx,.xls"
                    aria-invalid=[file_error.map(|_| "true")]
                    aria-describedby={ "f-file-hint" @if file_error.is_some() { " f-file-error" } };
            }
            div class="field choice" {
                input type="checkbox" id="f-dry_run" name="dry_run" value="1";
                label for="f-dry_run" { (t("import-dry-run")) }
            }
            div class="field choice" {
                input type="checkbox" id="f-all_or_nothing" name="all_or_nothing" value="1";
                label for="f-all_or_nothing" { (t("import-all-or-nothing")) }
            }
            button type="submit" { (t("import-submit")) }
        }
        h2 { (t("export-title")) }
        p { (t("export-intro")) }
        ul {
            li { a href="/exporter?format=csv" download { (t("export-csv")) } }
            li { a href="/exporter?format=xlsx" download { (t("export-xlsx")) } }
        }
    };
    let mut response = layout::page(web, visitor, &t("import-title"), body);
    if !errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// The first collectivity the visitor acts for (none: not signed in).
fn first_collectivity(visitor: &Visitor) -> Option<String> {
    visitor.acting.first().map(|c| c.publisher.clone())
}

pub async fn form(State(web): State<Shared>, headers: HeaderMap) -> Response {
    let visitor = web.visitor(&headers).await;
    match first_collectivity(&visitor) {
        Some(first) => form_page(&web, &visitor, &first, &Errors::default()),
        None => to_sign_in(),
    }
}

/// The form again with `message` beside the file field.
fn refused(
    web: &Web,
    visitor: &Visitor,
    chosen: &str,
    status: StatusCode,
    message: String,
) -> Response {
    let mut errors = Errors::default();
    errors.add("file", "import-file", message);
    let mut page = form_page(web, visitor, chosen, &errors);
    *page.status_mut() = status;
    page
}

pub async fn submit(
    State(web): State<Shared>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    let Some(first) = first_collectivity(&visitor) else {
        return to_sign_in();
    };
    let upload = match multipart {
        Ok(multipart) => read_upload(multipart).await,
        Err(_) => Err(UploadError::Unreadable),
    };
    let upload = match upload {
        Ok(upload) => upload,
        Err(UploadError::TooLarge) => {
            let size = n(MAX_UPLOAD_BYTES / (1024 * 1024));
            let message = tr("import-too-large", &[("size", size)]);
            return refused(
                &web,
                &visitor,
                &first,
                StatusCode::PAYLOAD_TOO_LARGE,
                message,
            );
        }
        Err(UploadError::Unreadable) => {
            return refused(
                &web,
                &visitor,
                &first,
                StatusCode::BAD_REQUEST,
                t("import-unreadable"),
            )
        }
    };
    if !visitor.check_csrf(&upload.csrf) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "csrf");
    }
    if !visitor.may_act_for(&upload.collectivity) {
        return error_page(&web, &visitor, StatusCode::FORBIDDEN, "forbidden");
    }
    let chosen = upload.collectivity.clone();
    if upload.file_name.is_empty() || upload.bytes.is_empty() {
        return refused(
            &web,
            &visitor,
            &chosen,
            StatusCode::UNPROCESSABLE_ENTITY,
            t("import-no-file"),
        );
    }
    let publisher = match web.node.publisher(&upload.collectivity) {
        Ok(p) => p,
        Err(_) => return error_page(&web, &visitor, StatusCode::FORBIDDEN, "forbidden"),
    };
    let author = publisher.key.public();
    let name = upload.file_name.clone();
    let bytes = upload.bytes;
    // Decoding and every row's checks (signature-free, but CPU and
    // reference data): on the blocking pool.
    let checked = tokio::task::spawn_blocking(move || {
        let table = mutua_sheet::read_bytes(&name, bytes).map_err(|e| e.to_string())?;
        let format = table.format.clone();
        import::check_table(
            table,
            author,
            unix_now(),
            crate::local_rules::check_reference_rules,
            crate::listing_import::identity,
        )
        .map(|c| (format, c))
        .map_err(|e| e.to_string())
    })
    .await;
    let (format, checked) = match checked {
        Ok(Ok(found)) => found,
        Ok(Err(reason)) => {
            let message = tr("import-file-refused", &[("reason", s(reason))]);
            return refused(
                &web,
                &visitor,
                &chosen,
                StatusCode::UNPROCESSABLE_ENTITY,
                message,
            );
        }
        Err(e) => return internal(&web, &visitor, e),
    };
    let mut reports = checked.reports;
    let held = upload.all_or_nothing && !reports.is_empty();
    for (line, good) in checked.good {
        if held {
            reports.push(RowReport::held(line));
            continue;
        }
        let row = ImportRow {
            id: good.id,
            listing: good.content,
            dry_run: upload.dry_run,
        };
        match crate::api::listings::import_one(&web.node, publisher.clone(), row).await {
            Ok(done) => reports.push(RowReport::done(
                line,
                done.outcome,
                done.id.to_hex(),
                upload.dry_run,
            )),
            Err(e) if e.status.is_client_error() => reports.push(RowReport::rejected(
                line,
                vec![import::refused(
                    &checked.header,
                    &e.code,
                    e.field.as_deref(),
                    &e.message,
                )],
            )),
            // The rows reported so far are stored; importing the same
            // file again completes the rest without duplicates.
            Err(e) => return internal(&web, &visitor, e.message),
        }
    }
    reports.sort_by_key(|r| r.line);
    let report = Report {
        file: &upload.file_name,
        format: &format,
        author: &author.to_string(),
        dry_run: upload.dry_run,
        held,
        reports: &reports,
    };
    layout::page(&web, &visitor, &t("import-report-title"), report.markup())
}

/// What the report page shows.
struct Report<'a> {
    file: &'a str,
    format: &'a str,
    author: &'a str,
    dry_run: bool,
    held: bool,
    reports: &'a [RowReport],
}

impl Report<'_> {
    fn markup(&self) -> Markup {
        let counts = Counts::of(self.reports);
        let summary = counts.summary(self.dry_run || self.held);
        let nothing = if self.held {
            Some(tr("import-held", &[("count", n(counts.rejected))]))
        } else if self.dry_run {
            Some(t("import-dry-run-done"))
        } else {
            None
        };
        html! {
            div class="status" role="status" {
                p { (tr("import-summary", &[("file", s(self.file)), ("format", s(self.format)), ("summary", s(summary))])) }
                @if let Some(text) = nothing { p { (text) } }
            }
            table class="report" {
                caption { (t("import-report-caption")) }
                thead { tr { th scope="col" { (t("import-line")) } th scope="col" { (t("import-result")) } th scope="col" { (t("import-detail")) } } }
                tbody {
                    @for r in self.reports {
                        tr {
                            th scope="row" { (r.line) }
                            td { (result_word(r)) }
                            td { (self.detail(r)) }
                        }
                    }
                }
            }
            p { a href="/importer" { (t("import-again")) } }
        }
    }

    fn detail(&self, r: &RowReport) -> Markup {
        html! {
            @if !r.errors.is_empty() {
                ul { @for e in &r.errors { li { (import::error_line(e)) } } }
            } @else if let (Some(id), "published" | "updated" | "unchanged") = (&r.id, r.status) {
                a href={ "/annonces/" (self.author) "/" (id) } { (t("import-see")) }
            }
        }
    }
}

fn result_word(r: &RowReport) -> String {
    match import::done_word(r.status) {
        Some(word) => word.to_owned(),
        None => t("import-rejected"),
    }
}
