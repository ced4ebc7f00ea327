//! Deterministic sample web project (PHP/JS/CSS/SQL) for `devsky demo`, benchmarks and tests.
//!
//! Names come from word lists (areas x entities x view actions); contents are plausible code
//! seeded per file from a hand-written splitmix64, so the same `files` always gives the same bytes.

use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// What [`write_sample_project`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoStats {
    /// Number of files written.
    pub files: usize,
    /// Total size of those files in bytes.
    pub bytes: u64,
}

#[rustfmt::skip]
const AREAS: &[&str] = &[
    "admin", "shop", "blog", "account", "billing", "support", "analytics", "catalog", "crm",
    "inventory", "marketing", "portal",
];
#[rustfmt::skip]
const ENTITIES: &[&str] = &[
    "User", "Post", "Comment", "Order", "Invoice", "Product", "Category", "Tag", "Session",
    "Payment", "Customer", "Address", "Cart", "Coupon", "Refund", "Shipment", "Review",
    "Notification", "Message", "Team", "Role", "Permission", "Subscription", "Plan", "Ticket",
    "Attachment", "Report", "Setting", "Warehouse", "Discount", "Page", "Menu",
];
const ACTIONS: &[&str] = &[
    "index", "show", "create", "edit", "form", "row", "card", "filters",
];
/// (column, SQL type, validation rule, HTML input type)
type Field = (&'static str, &'static str, &'static str, &'static str);
#[rustfmt::skip]
const FIELDS: &[Field] = &[
    ("name", "VARCHAR(120) NOT NULL", "required|string|max:120", "text"),
    ("title", "VARCHAR(200) NOT NULL", "required|string|max:200", "text"),
    ("slug", "VARCHAR(200) NOT NULL", "required|alpha_dash|max:200", "text"),
    ("email", "VARCHAR(190) NULL", "nullable|email", "email"),
    ("status", "VARCHAR(20) NOT NULL DEFAULT 'draft'", "required|in:draft,active,archived", "text"),
    ("amount", "DECIMAL(12,2) NOT NULL DEFAULT 0", "required|numeric|min:0", "number"),
    ("quantity", "INT NOT NULL DEFAULT 1", "required|integer|min:1", "number"),
    ("description", "TEXT NULL", "nullable|string", "textarea"),
    ("published_at", "DATETIME NULL", "nullable|date", "datetime-local"),
    ("due_date", "DATE NULL", "nullable|date", "date"),
    ("currency", "CHAR(3) NOT NULL DEFAULT 'EUR'", "required|size:3", "text"),
    ("priority", "TINYINT NOT NULL DEFAULT 0", "integer|between:0,5", "number"),
    ("phone", "VARCHAR(32) NULL", "nullable|string|max:32", "tel"),
    ("country", "CHAR(2) NULL", "nullable|size:2", "text"),
    ("rating", "TINYINT NULL", "nullable|integer|between:1,5", "number"),
    ("notes", "TEXT NULL", "nullable|string", "textarea"),
    ("user_id", "BIGINT UNSIGNED NULL", "nullable|exists:users,id", "number"),
    ("is_active", "BOOLEAN NOT NULL DEFAULT TRUE", "boolean", "checkbox"),
];
/// Share (percent) of the generated files per kind, in the order of `generate`'s match.
const WEIGHTS: [usize; 8] = [11, 11, 32, 9, 13, 10, 10, 4];

/// splitmix64, seeded from an FNV-1a hash of a key: tiny, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn for_key(key: &str) -> Self {
        let fnv = |h: u64, b: u8| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        Rng(key.bytes().fold(0xcbf2_9ce4_8422_2325, fnv) ^ 0xDE75_C0DE_2024_0001)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One (area, entity) pair, the names derived from it and its columns (indices into `FIELDS`).
struct Ent {
    class: String,
    entity: &'static str,
    area: &'static str,
    snake: String,
    plural: String,
    table: String,
    fields: Vec<usize>,
}

/// The `i`-th unique entity: entities vary fastest, then areas, then a numeric suffix.
fn ent(i: usize) -> Ent {
    let (ne, na) = (ENTITIES.len(), AREAS.len());
    let (entity, area, round) = (ENTITIES[i % ne], AREAS[i / ne % na], i / (ne * na));
    let suffix = if round > 0 {
        format!("{}", round + 1)
    } else {
        String::new()
    };
    let class = format!("{}{}{entity}{suffix}", area[..1].to_uppercase(), &area[1..]);
    let lower = entity.to_lowercase();
    let plural = match lower.strip_suffix('y') {
        Some(stem) => format!("{stem}ies{suffix}"),
        None if lower.ends_with('s') => format!("{lower}es{suffix}"),
        None => format!("{lower}s{suffix}"),
    };
    let (snake, table) = (format!("{lower}{suffix}"), format!("{area}_{plural}"));
    // The columns depend on the class only, so model, migration, views and tests agree.
    let mut rng = Rng::for_key(&class);
    let mut idx: Vec<usize> = (0..FIELDS.len()).collect();
    for k in (1..idx.len()).rev() {
        idx.swap(k, rng.below(k + 1));
    }
    let mut fields = idx[..rng.range(4, 9)].to_vec();
    fields.sort_unstable();
    Ent {
        class,
        entity,
        area,
        snake,
        plural,
        table,
        fields,
    }
}

impl Ent {
    fn fill(&self, template: &str) -> String {
        template
            .replace("@C@", &self.class)
            .replace("@E@", self.entity)
            .replace("@e@", &self.entity.to_lowercase())
            .replace("@A@", self.area)
            .replace("@S@", &self.snake)
            .replace("@T@", &self.table)
            .replace("@P@", &self.plural)
            .replace("@F@", FIELDS[self.fields[0]].0)
    }
    fn columns(&self) -> impl Iterator<Item = &'static Field> + '_ {
        self.fields.iter().map(|&f| &FIELDS[f])
    }
}

fn label(name: &str) -> String {
    let s = name.replace('_', " ");
    format!("{}{}", s[..1].to_uppercase(), &s[1..])
}

const CONTROLLER_HEAD: &str = r"<?php

declare(strict_types=1);

namespace App\Controllers;

use App\Models\@C@;
use App\Support\Request;
use App\Support\Response;

/**
 * HTTP endpoints for @A@ @e@ records.
 */
final class @C@Controller extends BaseController
{";
const CONTROLLER_METHODS: &[&str] = &[
    r"    public function index(Request $request): Response
    {
        $page = max(1, (int) $request->query('page', 1));
        $items = @C@::query()->orderBy('created_at', 'desc')->paginate($page, 25);
        return $this->render('@A@/@S@_index', ['items' => $items, 'page' => $page]);
    }",
    r"    public function show(int $id): Response
    {
        return $this->render('@A@/@S@_show', ['item' => @C@::findOrFail($id)]);
    }",
    r"    public function store(Request $request): Response
    {
        $data = $this->validate($request, @C@::rules());
        $item = @C@::create($data);
        $this->flash('success', '@E@ created.');
        return $this->redirect('/@A@/@P@/' . $item->id);
    }",
    r"    public function update(Request $request, int $id): Response
    {
        $item = @C@::findOrFail($id);
        $item->fill($this->validate($request, @C@::rules()))->save();
        return $this->redirect('/@A@/@P@/' . $id);
    }",
    r"    public function destroy(int $id): Response
    {
        @C@::findOrFail($id)->delete();
        $this->flash('success', '@E@ deleted.');
        return $this->redirect('/@A@/@P@');
    }",
    r"    public function search(Request $request): Response
    {
        $term = trim((string) $request->query('q', ''));
        $rows = $this->db->select(
            'SELECT * FROM @T@ WHERE @F@ LIKE :term ORDER BY id DESC LIMIT 50',
            ['term' => '%' . $term . '%']
        );
        return $this->json(['data' => $rows, 'count' => count($rows)]);
    }",
    r"    public function export(): Response
    {
        $out = fopen('php://temp', 'w+');
        foreach (@C@::query()->cursor() as $row) {
            fputcsv($out, $row->toArray());
        }
        rewind($out);
        return $this->download(stream_get_contents($out), '@T@.csv', 'text/csv');
    }",
];
const MODEL_METHODS: &[&str] = &[
    r"    public function validate(array $input): array
    {
        $errors = [];
        foreach (static::rules() as $field => $rule) {
            if (str_contains($rule, 'required') && empty($input[$field])) {
                $errors[$field] = sprintf('The %s field is required.', $field);
            }
        }
        return $errors;
    }",
    r"    public static function recent(int $limit = 10): array
    {
        return static::db()->select(
            'SELECT id, @F@, created_at FROM @T@ ORDER BY created_at DESC LIMIT ?',
            [$limit]
        );
    }",
    r"    public function owner(): BelongsTo
    {
        return $this->belongsTo(User::class, 'user_id');
    }",
    r"    public function scopeActive(Query $query): Query
    {
        return $query->where('status', '=', 'active')->whereNull('deleted_at');
    }",
];
const JS_FUNCTIONS: &[&str] = &[
    r"export async function fetch@C@List(params = {}) {
  const query = new URLSearchParams(params).toString();
  const res = await api.get(`${ENDPOINT}?${query}`);
  return res.data ?? [];
}",
    r"export function render@C@List(container, items) {
  container.innerHTML = items
    .map((item) => `<li class='@A@-@S@__item' data-id='${item.id}'>${escapeHtml(String(item.@F@ ?? ''))}</li>`)
    .join('');
}",
    r"export function bind@C@Search(input, container) {
  input.addEventListener('input', debounce(async () => {
    const items = await fetch@C@List({ q: input.value });
    render@C@List(container, items);
  }, 250));
}",
    r"export async function delete@C@(id) {
  if (!window.confirm('Delete this @e@?')) {
    return false;
  }
  await api.delete(`${ENDPOINT}/${id}`);
  return true;
}",
];
const TEST_METHODS: &[&str] = &[
    r"    public function testValidateReportsMissingFields(): void
    {
        $errors = (new @C@())->validate([]);
        $this->assertIsArray($errors);
    }",
    r"    public function testRulesCoverFillableFields(): void
    {
        $rules = @C@::rules();
        foreach ((new @C@())->getFillable() as $field) {
            $this->assertArrayHasKey($field, $rules);
        }
    }",
    r"    public function testIndexPageRenders(): void
    {
        $response = $this->get('/@A@/@P@');
        $response->assertStatus(200);
        $response->assertSee('@E@');
    }",
    r"    public function testRecentUsesSelectWithLimit(): void
    {
        $rows = @C@::recent(5);
        $this->assertLessThanOrEqual(5, count($rows));
    }",
];

const TEST_HEAD: &str = r"<?php

declare(strict_types=1);

namespace Tests;

use App\Models\@C@;

final class @C@Test extends TestCase
{";
const VIEW_HEAD: &str = r#"<?php /** @var \App\Models\@C@[] $items @var ?\App\Models\@C@ $item */ ?>
<?php $this->layout('layouts/@A@', ['title' => '@E@']) ?>

<section class="@A@-@S@ @A@-@S@--@V@">
  <header class="@A@-@S@__header">
    <h1><?= $this->e($title ?? '@E@') ?></h1>
    <a class="btn btn-primary" href="/@A@/@P@/create">New @e@</a>
  </header>
"#;
const README: &str = r"# Acme Shop (devsky demo)

A small PHP/JS/CSS web application generated by `devsky demo`.

- `public/`: web root (`index.php`, css, js, images)
- `app/Controllers`, `app/Models`, `app/Views/<area>`: the MVC code
- `config/`: configuration arrays
- `database/migrations`: `CREATE TABLE` scripts; `database/seeds`: demo data
- `lang/en`: translations; `tests/`: PHPUnit tests

Run it with `composer install && php -S localhost:8000 -t public`.
";
const COMPOSER_JSON: &str = r#"{
    "name": "acme/shop",
    "description": "Demo web application",
    "type": "project",
    "require": { "php": "^8.2", "ext-pdo": "*" },
    "require-dev": { "phpunit/phpunit": "^11.0" },
    "autoload": { "psr-4": { "App\\": "app/" } },
    "autoload-dev": { "psr-4": { "Tests\\": "tests/" } }
}
"#;
const INDEX_PHP: &str = r"<?php

declare(strict_types=1);

require __DIR__ . '/../vendor/autoload.php';

$app = new App\Kernel(require __DIR__ . '/../config/app.php');
$app->handle(App\Support\Request::fromGlobals())->send();
";

/// `head`, the first `min` of `parts`, then each further part with probability `pct` percent.
fn assemble(x: &Ent, rng: &mut Rng, head: &str, parts: &[&str], min: usize, pct: usize) -> String {
    let mut s = x.fill(head);
    for (k, part) in parts.iter().enumerate() {
        if k < min || rng.chance(pct) {
            s = s + "\n" + &x.fill(part) + "\n";
        }
    }
    s
}

fn model(x: &Ent, rng: &mut Rng) -> String {
    let mut s = x.fill(
        r"<?php

declare(strict_types=1);

namespace App\Models;

/**
 * @E@ record in the @A@ area, stored in `@T@`.
 */
class @C@ extends Model
{
    protected string $table = '@T@';

    /** @var list<string> */
    protected array $fillable = [
",
    );
    x.columns()
        .for_each(|c| s += &format!("        '{}',\n", c.0));
    s += "    ];\n\n    /** Validation rules used by the controllers and the API. */\n";
    s += "    public static function rules(): array\n    {\n        return [\n";
    x.columns()
        .for_each(|c| s += &format!("            '{}' => '{}',\n", c.0, c.2));
    s += "        ];\n    }\n";
    assemble(x, rng, &s, MODEL_METHODS, 1, 70) + "}\n"
}

fn view(x: &Ent, action: &str) -> String {
    let mut s = x.fill(VIEW_HEAD).replace("@V@", action);
    if matches!(action, "create" | "edit" | "form" | "filters") {
        s += &x.fill("  <form method=\"post\" action=\"/@A@/@P@\" data-validate=\"@S@\">\n");
        s += "    <?= $this->csrf() ?>\n";
        for &(f, _, _, input) in x.columns() {
            let value = format!("<?= $this->e($item->{f} ?? '') ?>");
            s += &format!(
                "    <div class=\"form-group\">\n      <label for=\"{f}\">{}</label>\n",
                label(f)
            );
            s += &match input {
                "textarea" => {
                    format!("      <textarea id=\"{f}\" name=\"{f}\">{value}</textarea>\n")
                }
                _ => format!(
                    "      <input type=\"{input}\" id=\"{f}\" name=\"{f}\" value=\"{value}\">\n"
                ),
            };
            s += &format!(
                "      <?php if (isset($errors['{f}'])): ?>\n        <p class=\"error\"><?= $this->e($errors['{f}']) ?></p>\n      <?php endif; ?>\n    </div>\n"
            );
        }
        s += "    <button type=\"submit\" class=\"btn\">Save</button>\n  </form>\n";
    } else {
        s += "  <table class=\"table\">\n    <thead>\n      <tr>\n        <th>#</th>\n";
        x.columns()
            .for_each(|c| s += &format!("        <th>{}</th>\n", label(c.0)));
        s += "      </tr>\n    </thead>\n    <tbody>\n    <?php foreach ($items as $item): ?>\n";
        s += "      <tr>\n        <td><?= (int) $item->id ?></td>\n";
        for c in x.columns() {
            s += &format!(
                "        <td><?= htmlspecialchars((string) $item->{}) ?></td>\n",
                c.0
            );
        }
        s += "      </tr>\n    <?php endforeach; ?>\n    </tbody>\n  </table>\n";
        s += "  <?= $this->render('partials/pagination', ['page' => $page ?? 1]) ?>\n";
    }
    s + "</section>\n"
}

fn css(x: &Ent, rng: &mut Rng) -> String {
    #[rustfmt::skip]
    const PARTS: &[&str] = &["", "__header", "__item", "__title", "__body", "__footer", "--active", "__badge", "__meta", "--empty"];
    #[rustfmt::skip]
    const PROPS: &[&str] = &[
        "display: flex", "padding: 0.5rem 1rem", "margin: 0 0 1rem", "border-radius: 4px",
        "font-weight: 600", "gap: 0.75rem", "align-items: center", "font-size: 0.875rem",
        "line-height: 1.4", "overflow: hidden", "background: var(--surface)",
    ];
    let mut s = x.fill("/* @A@ / @e@: styles for the @S@ views */\n");
    for (k, part) in PARTS.iter().enumerate() {
        if k < 4 || rng.chance(60) {
            s += &format!("\n.{}-{}{part} {{\n", x.area, x.snake);
            let start = rng.below(PROPS.len());
            for p in (0..rng.range(2, 6)).map(|j| PROPS[(start + j) % PROPS.len()]) {
                s += &format!("  {p};\n");
            }
            s += &format!("  color: #{:06x};\n}}\n", rng.next() & 0xff_ffff);
        }
    }
    s
}

fn js(x: &Ent, rng: &mut Rng) -> String {
    let mut s = x.fill(
        r"// @A@-@S@.js: client-side behaviour for @e@ pages.
import { api, debounce, escapeHtml } from './lib/http.js';

const ENDPOINT = '/api/@A@/@P@';

export function validate@C@Form(form) {
  const errors = {};
",
    );
    for &(f, ..) in x.columns().filter(|c| c.2.starts_with("required")) {
        s += &format!(
            "  if (!form.elements['{f}'].value.trim()) {{\n    errors.{f} = '{} is required';\n  }}\n",
            label(f)
        );
    }
    s += "  return errors;\n}\n";
    assemble(x, rng, &s, JS_FUNCTIONS, 2, 70)
}

fn migration(x: &Ent, i: usize) -> (String, String) {
    let (month, day) = (1 + i / 28 % 12, 1 + i % 28);
    let path = format!(
        "database/migrations/2024_{month:02}_{day:02}_{i:06}_create_{}_table.sql",
        x.table
    );
    let mut s = x.fill(
        r"-- Migration: create table @T@ (@A@ area).
-- Stores @e@ records used by App\Models\@C@.

CREATE TABLE IF NOT EXISTS @T@ (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
",
    );
    x.columns()
        .for_each(|c| s += &format!("    {} {},\n", c.0, c.1));
    s += &x.fill(
        r"    created_at TIMESTAMP NULL DEFAULT NULL,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    deleted_at TIMESTAMP NULL DEFAULT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE INDEX idx_@T@_@F@ ON @T@ (@F@);
CREATE INDEX idx_@T@_created ON @T@ (created_at);

-- Typical listing query:
-- SELECT id, @F@, created_at FROM @T@ WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT 25;
",
    );
    (path, s)
}

fn lang(x: &Ent) -> String {
    let mut s = x.fill(
        r#"{
    "@S@.title": "@E@",
    "@S@.create": "New @e@",
    "@S@.edit": "Edit @e@",
    "@S@.deleted": "The @e@ was deleted.",
    "@S@.saved": "The @e@ was saved.",
    "@S@.empty": "No @e@ records yet.",
    "@S@.search": "Search @e@ records",
    "@S@.not_found": "That @e@ does not exist.",
    "@S@.confirm_delete": "Delete this @e@? This cannot be undone.""#,
    );
    for &(f, ..) in x.columns() {
        let (k, human) = (&x.snake, f.replace('_', " "));
        s += &format!(",\n    \"{k}.fields.{f}\": \"{}\"", label(f));
        s += &format!(
            ",\n    \"{k}.hints.{f}\": \"Enter the {human} of this {}.\"",
            x.snake
        );
        s += &format!(",\n    \"{k}.validate.{f}\": \"Please check the {human}.\"");
    }
    s + "\n}\n"
}

/// The `i`-th file of generated kind `kind` (index into `WEIGHTS`): (relative path, contents).
fn generate(kind: usize, i: usize) -> (String, String) {
    let block = ENTITIES.len() * AREAS.len();
    // Views: every (area, entity) pair gets each action before any name needs a suffix.
    let x = ent(if kind == 2 {
        i % block + i / (block * ACTIONS.len()) * block
    } else {
        i
    });
    let (a, c, sn) = (x.area, &x.class, &x.snake);
    let mut rng = Rng::for_key(&format!("{kind}/{i}"));
    match kind {
        0 => (
            format!("app/Controllers/{c}Controller.php"),
            assemble(&x, &mut rng, CONTROLLER_HEAD, CONTROLLER_METHODS, 2, 60) + "}\n",
        ),
        1 => (format!("app/Models/{c}.php"), model(&x, &mut rng)),
        2 => {
            let action = ACTIONS[i / block % ACTIONS.len()];
            (format!("app/Views/{a}/{sn}_{action}.php"), view(&x, action))
        }
        3 => (format!("public/assets/css/{a}-{sn}.css"), css(&x, &mut rng)),
        4 => (format!("public/assets/js/{a}-{sn}.js"), js(&x, &mut rng)),
        5 => migration(&x, i),
        6 => (
            format!("tests/{c}Test.php"),
            assemble(&x, &mut rng, TEST_HEAD, TEST_METHODS, 2, 70) + "}\n",
        ),
        _ => (format!("lang/en/{a}_{sn}.json"), lang(&x)),
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
        }
    }
    !c
}

/// A valid 16x16 RGBA PNG (zlib stream with one stored deflate block).
fn png() -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0u8..16 {
        raw.push(0); // filter type: none
        for x in 0u8..16 {
            raw.extend([x * 16, y * 16, 0x99, if (x + y) % 5 == 0 { 0 } else { 255 }]);
        }
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &v in &raw {
        a = (a + u32::from(v)) % 65521;
        b = (b + a) % 65521;
    }
    let len = raw.len() as u16;
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend(len.to_le_bytes());
    z.extend((!len).to_le_bytes());
    z.extend(raw);
    z.extend(((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let ihdr = [0, 0, 0, 16, 0, 0, 0, 16, 8, 6, 0, 0, 0];
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &z[..]), (b"IEND", &[][..])] {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind.iter().chain(data));
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    out
}

/// A `.ico` holding one PNG image.
fn ico(png: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0];
    out.extend((png.len() as u32).to_le_bytes());
    out.extend(22u32.to_le_bytes()); // offset of the image data
    out.extend_from_slice(png);
    out
}

/// ~200 KB of minified JavaScript on a single line.
fn vendor_min_js(rng: &mut Rng) -> String {
    #[rustfmt::skip]
    const OPS: &[&str] = &[
        "e&&t?e.concat(t):e||t||[]", "Object.assign({},e,t)", "e.filter(function(n){return n!==t})",
        "typeof e===\"function\"?e(t):t", "e.map(function(n,r){return t(n,r)})",
    ];
    let mut s = String::from("/*! vendor bundle v3.4.1 | MIT */!function(w,d){\"use strict\";");
    let mut k = 0;
    while s.len() < 200_000 {
        let (op, v) = (rng.pick(OPS), rng.below(997));
        s += &format!("var _{k:x}=function(e,t){{return {op}}};w.__v{v}=_{k:x};");
        k += 1;
    }
    s + "}(window,document);\n"
}

/// ~5,000 lines of INSERT statements.
fn seed_sql() -> String {
    const FIRST: &[&str] = &[
        "Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara",
    ];
    const LAST: &[&str] = &[
        "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Liskov",
    ];
    let mut s = String::from("-- Demo seed data: run after the migrations.\nSTART TRANSACTION;\n");
    s += "INSERT INTO admin_users (id, name, email, status, created_at) VALUES\n";
    for n in 1..=4996 {
        let (first, last) = (FIRST[n % FIRST.len()], LAST[n / FIRST.len() % LAST.len()]);
        let email = format!(
            "{}.{}{n}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let status = if n % 7 == 0 { "draft" } else { "active" };
        let date = format!(
            "2024-{:02}-{:02} 09:{:02}:00",
            1 + n % 12,
            1 + n % 28,
            n % 60
        );
        let end = if n == 4996 { ';' } else { ',' };
        s += &format!("    ({n}, '{first} {last}', '{email}', '{status}', '{date}'){end}\n");
    }
    s + "COMMIT;\n"
}

fn config(name: &str, rng: &mut Rng) -> String {
    #[rustfmt::skip]
    const KEYS: &[(&str, &str)] = &[
        ("driver", "file"), ("host", "127.0.0.1"), ("port", "3306"), ("timeout", "30"),
        ("path", "storage/app"), ("prefix", "acme_"), ("enabled", "true"), ("ttl", "3600"),
        ("name", "acme"), ("url", "http://localhost:8000"), ("username", "acme"), ("password", ""),
        ("encryption", "tls"), ("queue", "default"), ("channel", "stack"), ("level", "debug"),
        ("lifetime", "120"), ("secure", "false"), ("region", "eu-west-1"), ("retry_after", "90"),
    ];
    let upper = name.to_uppercase();
    let mut s =
        format!("<?php\n\ndeclare(strict_types=1);\n\n// {name} settings; .env values win.\n\n");
    s += "return [\n";
    for (key, default) in KEYS.iter().filter(|_| rng.chance(70)) {
        s += &format!(
            "    '{key}' => env('{upper}_{}', '{default}'),\n",
            key.to_uppercase()
        );
    }
    s + "];\n"
}

/// Writes files under `root`, creating each parent folder once, and counts what it wrote.
struct Writer {
    root: PathBuf,
    made: HashSet<PathBuf>,
    stats: DemoStats,
}

impl Writer {
    fn put(&mut self, rel: &str, data: impl AsRef<[u8]>) -> Result<()> {
        let (path, data) = (self.root.join(rel), data.as_ref());
        if let Some(parent) = path.parent()
            && self.made.insert(parent.to_path_buf())
        {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
        self.stats.files += 1;
        self.stats.bytes += data.len() as u64;
        Ok(())
    }
}

/// The skeleton written whatever `files` is: root files, ignored files, binaries, big files, config.
fn write_fixed(w: &mut Writer) -> Result<()> {
    let mut rng = Rng::for_key("fixed");
    w.put(
        ".gitignore",
        "vendor/\n*.log\n.env\nnode_modules/\n/storage/cache/\n.phpunit.result.cache\n",
    )?;
    w.put("README.md", README)?;
    w.put("composer.json", COMPOSER_JSON)?;
    w.put("public/index.php", INDEX_PHP)?;
    w.put("vendor/autoload.php", "<?php\n\n// autoload.php @generated by Composer\n\nrequire_once __DIR__ . '/composer/autoload_real.php';\n\nreturn ComposerAutoloaderInit::getLoader();\n")?;
    let mut log = String::new();
    for n in 0..180 {
        let (level, method) = (
            rng.pick(&["INFO", "INFO", "DEBUG", "WARNING", "ERROR"]),
            rng.pick(&["GET", "POST", "PUT"]),
        );
        let url = rng.pick(&["/shop/orders", "/admin/users", "/blog/posts", "/api/cart"]);
        let (ms, user) = (rng.range(3, 900), rng.range(1, 5000));
        log += &format!(
            "[2024-05-{:02} {:02}:{:02}:00] production.{level}: {method} {url} handled in {ms} ms {{\"user_id\":{user}}}\n",
            1 + n / 12,
            n % 24,
            n % 60
        );
    }
    w.put("storage/logs/app.log", log)?;
    let logo = png();
    w.put("public/assets/img/favicon.ico", ico(&logo))?;
    w.put("public/assets/img/logo.png", logo)?;
    w.put("public/assets/js/vendor.min.js", vendor_min_js(&mut rng))?;
    w.put("database/seeds/demo_data.sql", seed_sql())?;
    for name in ["app", "database", "cache", "mail", "session", "logging"] {
        w.put(&format!("config/{name}.php"), config(name, &mut rng))?;
    }
    Ok(())
}

/// Write the sample project into `dir` (created if missing; must be empty or absent, else an error that says so).
/// `files` is the approximate number of files to write (the default used by `devsky demo` will be 3000).
/// A fixed skeleton of 16 files is always written, so tiny values of `files` give a few more.
///
/// # Errors
/// If `dir` is a file or a non-empty directory, or on any I/O error (with the path in the message).
pub fn write_sample_project(dir: &Path, files: usize) -> Result<DemoStats> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists and is not a directory", dir.display());
        }
        if fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
        {
            bail!(
                "{} is not empty: the demo project needs an empty or new directory",
                dir.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut w = Writer {
        root: dir.to_path_buf(),
        made: HashSet::new(),
        stats: DemoStats::default(),
    };
    write_fixed(&mut w)?;
    let rest = files.saturating_sub(w.stats.files);
    let mut counts = WEIGHTS.map(|p| rest * p / 100);
    counts[2] += rest - counts.iter().sum::<usize>();
    for (kind, &n) in counts.iter().enumerate() {
        for i in 0..n {
            let (path, body) = generate(kind, i);
            w.put(&path, body)?;
        }
    }
    Ok(w.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `root` as (relative path with `/`, bytes), sorted.
    fn files_of(root: &Path) -> Vec<(String, Vec<u8>)> {
        let (mut out, mut stack) = (Vec::new(), vec![root.to_path_buf()]);
        while let Some(dir) = stack.pop() {
            for path in fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                    out.push((rel.replace('\\', "/"), fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn lines(bytes: &[u8]) -> usize {
        bytes.iter().filter(|&&b| b == b'\n').count()
    }

    #[test]
    fn deterministic() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let stats = write_sample_project(a.path(), 600).unwrap();
        assert_eq!(stats, write_sample_project(b.path(), 600).unwrap());
        assert_eq!(files_of(a.path()), files_of(b.path()));
    }

    #[test]
    fn count_within_tolerance_and_stats_match_disk() {
        for n in [300, 3000] {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("new/demo");
            let stats = write_sample_project(&root, n).unwrap();
            let on_disk = files_of(&root);
            let bytes: u64 = on_disk.iter().map(|f| f.1.len() as u64).sum();
            assert_eq!((stats.files, stats.bytes), (on_disk.len(), bytes));
            assert!(
                stats.files.abs_diff(n) * 20 <= n,
                "{} files for {n}",
                stats.files
            );
        }
    }

    #[test]
    fn names_stay_unique_for_large_counts() {
        for kind in 0..WEIGHTS.len() {
            let paths: HashSet<String> = (0..6000).map(|i| generate(kind, i).0).collect();
            assert_eq!(paths.len(), 6000, "kind {kind}");
        }
    }

    #[test]
    fn refuses_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep.txt"), "x").unwrap();
        let err = write_sample_project(dir.path(), 100).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
    }

    #[test]
    fn ignored_special_and_generated_files() {
        let dir = tempfile::tempdir().unwrap();
        write_sample_project(dir.path(), 1500).unwrap();
        let read = |p: &str| fs::read(dir.path().join(p)).unwrap();
        let gitignore = String::from_utf8(read(".gitignore")).unwrap();
        assert!(gitignore.lines().any(|l| l == "vendor/"));
        assert!(gitignore.lines().any(|l| l == "*.log"));
        assert!(!read("storage/logs/app.log").is_empty());
        assert!(!read("vendor/autoload.php").is_empty());
        let logo = read("public/assets/img/logo.png");
        assert!(logo.starts_with(b"\x89PNG\r\n\x1a\n") && logo.contains(&0));
        let vendor = read("public/assets/js/vendor.min.js");
        assert!(vendor.len() >= 200_000 && lines(&vendor) == 1);
        assert!(lines(&read("database/seeds/demo_data.sql")) >= 5000);
        let all = files_of(dir.path());
        let generated = [
            "app/",
            "tests/",
            "lang/",
            "database/migrations/",
            "public/assets/",
        ];
        let bad: Vec<String> = (all.iter())
            .filter(|(p, _)| generated.iter().any(|g| p.starts_with(g)))
            .filter(|(p, b)| !p.contains(".min.") && !p.contains("/img/") && lines(b) < 20)
            .chain(
                all.iter()
                    .filter(|(p, b)| lines(b) > 200 && !p.contains("seeds/")),
            )
            .map(|(p, b)| format!("{p}: {}", lines(b)))
            .collect();
        assert!(bad.is_empty(), "files outside 20..=200 lines: {bad:?}");
        for word in [
            "function",
            "class",
            "SELECT",
            "render",
            "validate",
            "CREATE TABLE",
        ] {
            let mut with_word = all
                .iter()
                .filter(|f| f.1.windows(word.len()).any(|w| w == word.as_bytes()));
            assert!(with_word.nth(100).is_some(), "too few files contain {word}");
        }
    }
}
