//! The round dashboard's charts, drawn on the server as inline SVG so that they read without
//! JavaScript. Pure functions: plain data in, a string out, the same string for the same data.
//!
//! Every chart is `role="img"` with a Japanese `<title>` and a `<desc>` that says what a sighted
//! reader takes from it; it scales to its container (a `viewBox`, `width="100%"`, no pixel size).
//! Styling uses presentation attributes only: the console's Content-Security-Policy refuses
//! inline `style`. Colours reach 4.5:1 against white, and each series also differs in its line
//! pattern and is named in a legend, so nothing depends on telling colours apart.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDateTime, Timelike};

use crate::domain::notification::{japanese_datetime, jst, thousands, yen};
pub use crate::service::charts::{AnswerPoint, ShareDot, Timeline};

const WIDTH: i64 = 720;
const FONT: &str =
    "system-ui, 'Hiragino Sans', 'Noto Sans CJK JP', 'Yu Gothic', Meiryo, sans-serif";
const INK: &str = "#333333";
const GRID: &str = "#e0e0e0";
const JOINED: &str = "#1d4ed8";
const DECLINED: &str = "#b45309";
const REFERENCE: &str = "#595959";

/// The plot area inside the `viewBox`.
#[derive(Clone, Copy)]
struct Frame {
    left: i64,
    right: i64,
    top: i64,
    bottom: i64,
}

impl Frame {
    fn width(self) -> i64 {
        self.right - self.left
    }

    fn height(self) -> i64 {
        self.bottom - self.top
    }
}

/// Bodies that joined and declined over a round's window, against the deadline and now.
pub fn answers_over_time(timeline: &Timeline) -> String {
    const HEIGHT: i64 = 400;
    let frame = Frame {
        left: 56,
        right: WIDTH - 24,
        top: 64,
        bottom: HEIGHT - 64,
    };
    let start = timeline.opens_at;
    // A window of no length still gets an axis.
    let end = timeline
        .closes_at
        .max(timeline.now)
        .max(start + Duration::hours(1));
    let span = (end - start).num_seconds().max(1);
    let x_of = |t: NaiveDateTime| {
        let offset = (t - start).num_seconds().clamp(0, span);
        frame.left + div_round(offset * frame.width(), span)
    };

    let last = timeline.points.last();
    let joined = last.map_or(0, |p| p.joined);
    let declined = last.map_or(0, |p| p.declined);
    let unanswered = timeline.eligible.saturating_sub(joined + declined);
    let highest = timeline
        .points
        .iter()
        .map(|p| p.joined.max(p.declined))
        .max()
        .unwrap_or(0)
        .max(timeline.eligible);
    let (step, top) = nice_scale(i64::from(highest));
    let y_of = |count: i64| frame.bottom - div_round(count * frame.height(), top);

    let deadline = japanese_datetime(timeline.closes_at);
    let title = "回答の推移";
    let desc = format!(
        "参加 {joined}団体、不参加 {declined}団体、未回答 {unanswered}団体（対象 {}団体）。受付開始 {}、締切 {deadline}。",
        timeline.eligible,
        japanese_datetime(timeline.opens_at),
    );
    let mut svg = open_svg("answers", HEIGHT, title, &desc);

    // Grid and count axis.
    let mut count = 0;
    while count <= top {
        let y = y_of(count);
        line(&mut svg, frame.left, y, frame.right, y, GRID, 1, None);
        text(
            &mut svg,
            frame.left - 8,
            y + 4,
            "end",
            INK,
            &count.to_string(),
        );
        count += step;
    }
    text(
        &mut svg,
        frame.left - 8,
        frame.top - 12,
        "end",
        INK,
        "団体数",
    );

    // Time axis.
    for tick in time_ticks(start, end) {
        let x = x_of(tick.at);
        line(&mut svg, x, frame.top, x, frame.bottom, GRID, 1, None);
        line(&mut svg, x, frame.bottom, x, frame.bottom + 5, INK, 1, None);
        text(&mut svg, x, frame.bottom + 20, "middle", INK, &tick.label);
    }
    line(
        &mut svg,
        frame.left,
        frame.bottom,
        frame.right,
        frame.bottom,
        INK,
        1,
        None,
    );
    text(
        &mut svg,
        (frame.left + frame.right) / 2,
        frame.bottom + 44,
        "middle",
        INK,
        "日時（日本時間）",
    );

    // The eligible bodies, for scale.
    if timeline.eligible > 0 {
        let y = y_of(i64::from(timeline.eligible));
        line(
            &mut svg,
            frame.left,
            y,
            frame.right,
            y,
            REFERENCE,
            1,
            Some("2 4"),
        );
    }

    // The deadline and now, labelled above the plot; close labels lean apart.
    let deadline_x = x_of(timeline.closes_at);
    let now_inside = timeline.now >= start && timeline.now <= end;
    let now_x = x_of(timeline.now);
    let apart = now_inside && (now_x - deadline_x).abs() < 48;
    line(
        &mut svg,
        deadline_x,
        frame.top,
        deadline_x,
        frame.bottom,
        INK,
        2,
        None,
    );
    let deadline_anchor = match (apart, now_x < deadline_x) {
        (true, true) => "start",
        (true, false) => "end",
        (false, _) => edge_anchor(deadline_x, frame),
    };
    text(
        &mut svg,
        deadline_x,
        frame.top - 8,
        deadline_anchor,
        INK,
        "締切",
    );
    if now_inside {
        line(
            &mut svg,
            now_x,
            frame.top,
            now_x,
            frame.bottom,
            INK,
            1,
            Some("6 3"),
        );
        let now_anchor = match (apart, now_x < deadline_x) {
            (true, true) => "end",
            (true, false) => "start",
            (false, _) => edge_anchor(now_x, frame),
        };
        text(&mut svg, now_x, frame.top - 8, now_anchor, INK, "現在");
    }

    // The two step lines, up to now.
    let until = timeline.now.clamp(start, end);
    if timeline.points.is_empty() || timeline.now < start {
        let message = if timeline.now < start {
            "受付開始前です"
        } else {
            "まだ回答はありません"
        };
        text(
            &mut svg,
            (frame.left + frame.right) / 2,
            (frame.top + frame.bottom) / 2,
            "middle",
            INK,
            message,
        );
    } else {
        for (colour, dashes, of_declined) in [(JOINED, None, false), (DECLINED, Some("8 4"), true)]
        {
            let mut path = format!("M{} {}", frame.left, frame.bottom);
            for point in &timeline.points {
                let count = if of_declined {
                    point.declined
                } else {
                    point.joined
                };
                let x = x_of(point.at.clamp(start, until));
                let y = y_of(i64::from(count));
                let _ = write!(path, " H{x} V{y}");
            }
            let _ = write!(path, " H{}", x_of(until));
            let _ = write!(
                svg,
                r#"<path d="{path}" fill="none" stroke="{colour}" stroke-width="3" stroke-linejoin="round"{}/>"#,
                dash_attribute(dashes),
            );
        }
    }

    // Legend, with the counts it stands for.
    let legend = [
        (JOINED, 3, None, format!("参加 {joined}団体")),
        (DECLINED, 3, Some("8 4"), format!("不参加 {declined}団体")),
        (
            REFERENCE,
            1,
            Some("2 4"),
            format!("対象 {}団体", timeline.eligible),
        ),
    ];
    for (i, (colour, width, dashes, label)) in legend.iter().enumerate() {
        let x = frame.left + 176 * i as i64;
        line(&mut svg, x, 20, x + 32, 20, colour, *width, *dashes);
        text(&mut svg, x + 40, 25, "start", INK, label);
    }

    svg.push_str("</svg>");
    svg
}

/// Each body's share against its population: one dot per body, on log scales.
///
/// Populations run from about 700 (a village) to 2 million (the prefecture); on a linear scale
/// the 60-odd bodies under 30,000 would share the leftmost few per cent of the axis. On a log
/// scale each tenfold step takes the same width, so small towns spread out and stay comparable.
/// Shares follow population (人口割 is most of most cost models), so they span as many tenfold
/// steps and take a log scale too: on a linear one every body but the few largest lies on the
/// zero line. With log scales on both axes a share proportional to population is a straight
/// line of slope 1, and the floor that 均等割 and fixed fees set shows as a flat left end. Should
/// any share be zero or negative (a log scale has no place for it), shares go on a linear scale
/// from zero instead.
///
/// Each dot's `<title>` is its tooltip. Inside `role="img"` a screen reader reads the chart's
/// title and summary only, so a page showing this chart also shows the shares as a table.
pub fn shares_against_population(dots: &[ShareDot]) -> String {
    const HEIGHT: i64 = 420;
    let frame = Frame {
        left: 104,
        right: WIDTH - 24,
        top: 48,
        bottom: HEIGHT - 72,
    };
    let mut placed: Vec<(&ShareDot, i64)> = Vec::new();
    let mut unplaced = 0;
    for dot in dots {
        match dot.population.filter(|&p| p > 0) {
            Some(population) => placed.push((dot, population)),
            None => unplaced += 1,
        }
    }
    let log_shares = placed.iter().all(|(dot, _)| dot.share_yen > 0);

    let title = "人口と負担額";
    let mut desc = format!("{}団体の負担額と人口。", dots.len());
    let lowest = dots.iter().min_by_key(|d| d.share_yen);
    let highest = dots.iter().max_by_key(|d| d.share_yen);
    if let (Some(low), Some(high)) = (lowest, highest) {
        let _ = write!(
            desc,
            "負担額は{}（{}）から{}（{}）まで。",
            yen(low.share_yen),
            low.name,
            yen(high.share_yen),
            high.name
        );
    }
    desc.push_str(if log_shares {
        "縦軸・横軸とも対数目盛。"
    } else {
        "横軸の人口は対数目盛。"
    });
    if unplaced > 0 {
        let _ = write!(desc, "人口の記録がない{unplaced}団体は図にありません。");
    }
    let mut svg = open_svg("shares", HEIGHT, title, &desc);

    if placed.is_empty() {
        line(
            &mut svg,
            frame.left,
            frame.bottom,
            frame.right,
            frame.bottom,
            INK,
            1,
            None,
        );
        let message = if dots.is_empty() {
            "負担額はまだありません"
        } else {
            "人口の記録がある団体がありません"
        };
        text(
            &mut svg,
            (frame.left + frame.right) / 2,
            (frame.top + frame.bottom) / 2,
            "middle",
            INK,
            message,
        );
        svg.push_str("</svg>");
        return svg;
    }

    // Population axis: 1-2-5 steps, every one a grid line, labelled while they fit.
    let populations = LogScale::enclosing(placed.iter().map(|&(_, p)| p), (1_000, 100_000));
    let x_of = |population: i64| frame.left + populations.position(population, frame.width());
    let ticks = populations.ticks();
    let label_all = ticks.len() <= 8;
    for &tick in &ticks {
        let x = x_of(tick);
        line(&mut svg, x, frame.top, x, frame.bottom, GRID, 1, None);
        if label_all || is_power_of_ten(tick) {
            line(&mut svg, x, frame.bottom, x, frame.bottom + 5, INK, 1, None);
            text(
                &mut svg,
                x,
                frame.bottom + 20,
                "middle",
                INK,
                &population_label(tick),
            );
        }
    }
    text(
        &mut svg,
        (frame.left + frame.right) / 2,
        frame.bottom + 44,
        "middle",
        INK,
        "人口（対数目盛）",
    );

    // Share axis.
    let y_of: Box<dyn Fn(i64) -> i64> = if log_shares {
        let shares = LogScale::enclosing(placed.iter().map(|(d, _)| d.share_yen), (1, 10));
        let ticks = shares.ticks();
        let label_all = ticks.len() <= 12;
        for &tick in &ticks {
            let y = frame.bottom - shares.position(tick, frame.height());
            line(&mut svg, frame.left, y, frame.right, y, GRID, 1, None);
            if label_all || is_power_of_ten(tick) {
                text(&mut svg, frame.left - 8, y + 4, "end", INK, &yen(tick));
            }
        }
        Box::new(move |amount| frame.bottom - shares.position(amount, frame.height()))
    } else {
        let share_low = dots.iter().map(|d| d.share_yen).min().unwrap_or(0).min(0);
        let share_high = dots.iter().map(|d| d.share_yen).max().unwrap_or(0).max(0);
        let (step, top) = nice_scale(share_high);
        let bottom = if share_low < 0 {
            -nice_scale(share_low.saturating_neg()).1
        } else {
            0
        };
        let y_of = move |amount: i64| {
            let range = i128::from(top) - i128::from(bottom);
            let offset = (i128::from(amount) - i128::from(bottom)) * i128::from(frame.height());
            frame.bottom - i64::try_from(div_round_wide(offset, range)).unwrap_or(0)
        };
        let mut amount = bottom;
        while amount <= top {
            let y = y_of(amount);
            line(&mut svg, frame.left, y, frame.right, y, GRID, 1, None);
            text(&mut svg, frame.left - 8, y + 4, "end", INK, &yen(amount));
            amount = amount.saturating_add(step);
        }
        Box::new(y_of)
    };
    text(
        &mut svg,
        frame.left - 8,
        frame.top - 16,
        "end",
        INK,
        "負担額",
    );
    line(
        &mut svg,
        frame.left,
        frame.bottom,
        frame.right,
        frame.bottom,
        INK,
        1,
        None,
    );
    line(
        &mut svg,
        frame.left,
        frame.top,
        frame.left,
        frame.bottom,
        INK,
        1,
        None,
    );

    for (dot, population) in &placed {
        let _ = write!(
            svg,
            r##"<circle cx="{}" cy="{}" r="5" fill="{JOINED}" fill-opacity="0.75" stroke="#ffffff" stroke-width="1"><title>{}&#10;人口 {}人&#10;負担額 {}</title></circle>"##,
            x_of(*population),
            y_of(dot.share_yen),
            escape(&dot.name),
            thousands(population.unsigned_abs()),
            yen(dot.share_yen),
        );
    }
    if unplaced > 0 {
        text(
            &mut svg,
            frame.right,
            HEIGHT - 8,
            "end",
            INK,
            &format!("人口の記録がない{unplaced}団体は表示していません"),
        );
    }

    svg.push_str("</svg>");
    svg
}

/// The root element with the accessible name and description; `id` keeps them unique on a page
/// that shows several charts.
fn open_svg(id: &str, height: i64, title: &str, desc: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" font-family="{FONT}" font-size="13"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc><rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##,
        escape(title),
        escape(desc),
    )
}

#[allow(clippy::too_many_arguments)]
fn line(
    svg: &mut String,
    x1: i64,
    y1: i64,
    x2: i64,
    y2: i64,
    colour: &str,
    width: i64,
    dashes: Option<&str>,
) {
    let _ = write!(
        svg,
        r#"<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="{width}"{}/>"#,
        dash_attribute(dashes)
    );
}

fn dash_attribute(dashes: Option<&str>) -> String {
    dashes.map_or_else(String::new, |d| format!(r#" stroke-dasharray="{d}""#))
}

fn text(svg: &mut String, x: i64, y: i64, anchor: &str, colour: &str, content: &str) {
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{colour}">{}</text>"#,
        escape(content)
    );
}

/// A label at `x` stays inside the chart: near an edge it grows inwards.
fn edge_anchor(x: i64, frame: Frame) -> &'static str {
    if x > frame.right - 24 {
        "end"
    } else if x < frame.left + 24 {
        "start"
    } else {
        "middle"
    }
}

/// Text as XML character data or an attribute value. Characters XML 1.0 cannot carry at all
/// become U+FFFD, so that a stray control character cannot make the document unreadable.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `numerator / denominator` rounded half away from zero; `denominator` > 0.
fn div_round(numerator: i64, denominator: i64) -> i64 {
    i64::try_from(div_round_wide(numerator.into(), denominator.into())).unwrap_or(0)
}

fn div_round_wide(numerator: i128, denominator: i128) -> i128 {
    if denominator <= 0 {
        return 0;
    }
    let half = denominator / 2;
    if numerator >= 0 {
        (numerator + half) / denominator
    } else {
        (numerator - half) / denominator
    }
}

/// A tick step of 1, 2 or 5 × 10ⁿ giving at most five steps up to `max`, and the top of the
/// scale (a multiple of the step, at least `max`, never 0).
fn nice_scale(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let mut magnitude: i64 = 1;
    loop {
        for factor in [1, 2, 5] {
            let Some(step) = magnitude.checked_mul(factor) else {
                return (max, max);
            };
            let steps = (max + step - 1) / step;
            if steps <= 5 {
                return (step, steps * step);
            }
        }
        match magnitude.checked_mul(10) {
            Some(next) => magnitude = next,
            None => return (max, max),
        }
    }
}

/// The 1-2-5 values from 1 up to (and one past) `limit`.
fn one_two_five(limit: i64) -> Vec<i64> {
    let mut values = Vec::new();
    let mut magnitude: i64 = 1;
    loop {
        for factor in [1, 2, 5] {
            let Some(value) = magnitude.checked_mul(factor) else {
                return values;
            };
            values.push(value);
            if value > limit {
                return values;
            }
        }
        match magnitude.checked_mul(10) {
            Some(next) => magnitude = next,
            None => return values,
        }
    }
}

/// A log scale between two 1-2-5 values.
#[derive(Clone, Copy)]
struct LogScale {
    low: i64,
    high: i64,
}

impl LogScale {
    /// The 1-2-5 values enclosing `values` (all > 0), or `fallback` when there are none; never
    /// one value, so the scale has a width.
    fn enclosing(values: impl Iterator<Item = i64> + Clone, fallback: (i64, i64)) -> Self {
        let (Some(min), Some(max)) = (values.clone().min(), values.max()) else {
            return Self {
                low: fallback.0,
                high: fallback.1,
            };
        };
        let (min, max) = (min.max(1), max.max(1));
        let steps = one_two_five(max);
        let below = steps.iter().rposition(|&v| v <= min).unwrap_or(0);
        let above = steps
            .iter()
            .position(|&v| v >= max)
            .unwrap_or(steps.len() - 1);
        let (below, above) = if below < above {
            (below, above)
        } else {
            (below.saturating_sub(1), below + 1)
        };
        let low = steps[below];
        let high = steps.get(above).copied().unwrap_or(i64::MAX);
        Self {
            low,
            high: high.max(low + 1),
        }
    }

    /// How far along `length` the value lies, rounded to a whole unit.
    fn position(self, value: i64, length: i64) -> i64 {
        let log = |v: i64| (v.max(1) as f64).log10();
        let fraction = (log(value) - log(self.low)) / (log(self.high) - log(self.low));
        (fraction.clamp(0.0, 1.0) * length as f64).round() as i64
    }

    fn ticks(self) -> Vec<i64> {
        one_two_five(self.high)
            .into_iter()
            .filter(|&v| v >= self.low && v <= self.high)
            .collect()
    }
}

fn is_power_of_ten(value: i64) -> bool {
    let mut v = value;
    while v >= 10 && v % 10 == 0 {
        v /= 10;
    }
    v == 1
}

/// Populations as Japanese axes write them: 500, 1,000, 1万, 20万, 200万.
fn population_label(value: i64) -> String {
    if value >= 10_000 && value % 10_000 == 0 {
        format!("{}万", thousands((value / 10_000).unsigned_abs()))
    } else {
        thousands(value.unsigned_abs())
    }
}

struct TimeTick {
    at: NaiveDateTime,
    label: String,
}

/// Ticks on Japan's clock: whole hours or midnights, at most seven; a midnight shows its date,
/// other hours their time (the first one its date too).
fn time_ticks(start: NaiveDateTime, end: NaiveDateTime) -> Vec<TimeTick> {
    const HOURS: [i64; 10] = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336];
    let span_hours = (end - start).num_hours().max(1);
    let step_hours = HOURS
        .iter()
        .copied()
        .find(|&h| span_hours / h <= 6)
        .unwrap_or_else(|| (span_hours + 6 * 24 - 1) / (6 * 24) * 24);
    let local_start = to_jst(start);
    let first = if step_hours < 24 {
        let hour = local_start.hour() as i64;
        let next = if local_start.minute() == 0 && local_start.second() == 0 {
            (hour + step_hours - 1) / step_hours * step_hours
        } else {
            (hour / step_hours + 1) * step_hours
        };
        local_start
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|midnight| midnight + Duration::hours(next))
    } else {
        let midnight = local_start.date_naive().and_hms_opt(0, 0, 0);
        midnight.map(|m| {
            if m == local_start.naive_local() {
                m
            } else {
                m + Duration::days(1)
            }
        })
    };
    let Some(first) = first else {
        return Vec::new();
    };
    let offset = Duration::seconds(i64::from(jst().local_minus_utc()));
    let mut ticks = Vec::new();
    let mut local = first;
    while local - offset <= end {
        let label = if local.hour() == 0 && local.minute() == 0 {
            format!("{}月{}日", local.month(), local.day())
        } else if ticks.is_empty() {
            format!("{}月{}日 {}:00", local.month(), local.day(), local.hour())
        } else {
            format!("{}:00", local.hour())
        };
        ticks.push(TimeTick {
            at: local - offset,
            label,
        });
        local += Duration::hours(step_hours);
    }
    ticks
}

fn to_jst(utc: NaiveDateTime) -> DateTime<FixedOffset> {
    utc.and_utc().with_timezone(&jst())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(day: u32, hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, day)
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .expect("a valid time")
    }

    fn timeline(points: Vec<AnswerPoint>) -> Timeline {
        Timeline {
            // 2026-11-02 09:00 JST to 2026-12-01 17:00 JST.
            opens_at: utc(2, 0),
            closes_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .expect("a valid time"),
            now: utc(20, 3),
            eligible: 89,
            points,
        }
    }

    fn point(day: u32, joined: u32, declined: u32) -> AnswerPoint {
        AnswerPoint {
            at: utc(day, 3),
            joined,
            declined,
        }
    }

    /// The value of `attribute` on every element named `element`, in order.
    fn attributes<'a>(svg: &'a str, element: &str, attribute: &str) -> Vec<&'a str> {
        svg.split(&format!("<{element} "))
            .skip(1)
            .filter_map(|tag| {
                let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
                let name = format!("{attribute}=\"");
                let start = tag
                    .match_indices(&name)
                    .find(|&(i, _)| i == 0 || tag[..i].ends_with(' '))?
                    .0
                    + name.len();
                tag[start..].split('"').next()
            })
            .collect()
    }

    /// Well-formed enough for the checks here: numbers are integers, nothing is NaN.
    fn assert_sane(svg: &str) {
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 720 "));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#" width="100%" role="img""#));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(
            !svg.contains("style="),
            "the console's CSP refuses inline style"
        );
        for attribute in ["x", "y", "x1", "x2", "y1", "y2", "cx", "cy"] {
            for element in ["text", "line", "circle"] {
                for value in attributes(svg, element, attribute) {
                    assert!(value.parse::<i64>().is_ok(), "{attribute}={value:?}");
                }
            }
        }
        for d in attributes(svg, "path", "d") {
            for word in d.split(' ') {
                assert!(
                    word.trim_start_matches(['M', 'H', 'V'])
                        .parse::<i64>()
                        .is_ok(),
                    "{d}"
                );
            }
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"<script>&"'"#), "&lt;script&gt;&amp;&quot;&#39;");
        assert_eq!(escape("長野市\u{0}"), "長野市\u{FFFD}");
        let svg = shares_against_population(&[ShareDot {
            name: r#"<script>alert("x")</script>&'"#.to_owned(),
            population: Some(1_000),
            share_yen: 10,
        }]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
        assert_sane(&svg);
    }

    #[test]
    fn the_summary_says_the_counts_and_the_deadline_in_japanese() {
        let svg = answers_over_time(&timeline(vec![point(3, 1, 0), point(10, 12, 3)]));
        assert!(svg.contains(r#"<title id="answers-title">回答の推移</title>"#));
        assert!(svg.contains(
            "参加 12団体、不参加 3団体、未回答 74団体（対象 89団体）。受付開始 2026年11月2日(月) 09:00 JST、締切 2026年12月1日(火) 17:00 JST。"
        ));
        assert!(svg.contains(r#"aria-labelledby="answers-title answers-desc""#));
        assert_sane(&svg);
    }

    #[test]
    fn no_answers_draw_an_empty_chart_with_a_message() {
        let svg = answers_over_time(&timeline(Vec::new()));
        assert!(svg.contains("まだ回答はありません"));
        assert!(!svg.contains("<path"));
        assert_sane(&svg);

        let mut before = timeline(Vec::new());
        before.now = utc(1, 0);
        let svg = answers_over_time(&before);
        assert!(svg.contains("受付開始前です"));
        assert!(!svg.contains("現在"), "now is left of the axis");
        assert_sane(&svg);
    }

    #[test]
    fn one_answer_is_one_step() {
        let svg = answers_over_time(&timeline(vec![point(3, 1, 0)]));
        let paths = attributes(&svg, "path", "d");
        assert_eq!(paths.len(), 2);
        // From the axis at the opening, up at the answer, on to now.
        assert!(paths[0].starts_with("M56 336 H"), "{}", paths[0]);
        assert_eq!(paths[0].matches(" V").count(), 1);
        assert_sane(&svg);
    }

    #[test]
    fn a_window_of_no_length_and_equal_values_still_draw() {
        let mut point_in_time = timeline(vec![point(2, 0, 0)]);
        point_in_time.closes_at = point_in_time.opens_at;
        point_in_time.now = point_in_time.opens_at;
        point_in_time.eligible = 0;
        assert_sane(&answers_over_time(&point_in_time));

        let same = vec![
            ShareDot {
                name: "甲".to_owned(),
                population: Some(5_000),
                share_yen: 100_000,
            };
            3
        ];
        assert_sane(&shares_against_population(&same));
        let zero = vec![ShareDot {
            name: "乙".to_owned(),
            population: Some(1),
            share_yen: 0,
        }];
        let linear = shares_against_population(&zero);
        assert!(linear.contains(">¥0</text>") && linear.contains("横軸の人口は対数目盛"));
        assert_sane(&linear);
    }

    #[test]
    fn the_deadline_and_now_stand_where_their_times_are() {
        let chart = timeline(vec![point(3, 1, 0)]);
        let svg = answers_over_time(&chart);
        let span = (chart.closes_at - chart.opens_at).num_seconds();
        let expected =
            |t: NaiveDateTime| 56 + ((t - chart.opens_at).num_seconds() * 640 + span / 2) / span;
        let deadline = format!(
            r#"<line x1="{0}" y1="64" x2="{0}" y2="336" stroke="{INK}" stroke-width="2"/>"#,
            expected(chart.closes_at)
        );
        assert!(svg.contains(&deadline), "{svg}");
        // The window ends at the deadline: the line is the plot's right edge.
        assert_eq!(expected(chart.closes_at), 696);
        let now = format!(
            r#"<line x1="{0}" y1="64" x2="{0}" y2="336" stroke="{INK}" stroke-width="1" stroke-dasharray="6 3"/>"#,
            expected(chart.now)
        );
        assert!(svg.contains(&now), "{svg}");
        assert!(svg.contains(">締切</text>") && svg.contains(">現在</text>"));

        // Past the deadline the axis runs on to now, the deadline moves in.
        let mut late = chart.clone();
        late.now = chart.closes_at + Duration::days(10);
        let svg = answers_over_time(&late);
        let deadline_x = attributes(&svg, "line", "x1")
            .into_iter()
            .zip(attributes(&svg, "line", "stroke-width"))
            .find(|&(_, w)| w == "2")
            .map(|(x, _)| x.parse::<i64>().expect("an integer"));
        let span = (late.now - late.opens_at).num_seconds();
        let inside =
            56 + ((chart.closes_at - chart.opens_at).num_seconds() * 640 + span / 2) / span;
        assert_eq!(deadline_x, Some(inside));
    }

    #[test]
    fn time_ticks_fall_on_japanese_midnights_and_hours() {
        let ticks = time_ticks(utc(2, 0), utc(30, 0));
        assert!(ticks.len() <= 7 && ticks.len() >= 3);
        // The first midnight in Japan after 09:00 JST on 2 November is 3 November 00:00 JST.
        assert_eq!(ticks[0].at, utc(2, 15));
        assert_eq!(ticks[0].label, "11月3日");
        let short = time_ticks(utc(2, 0), utc(2, 6));
        assert_eq!(short[0].label, "11月2日 9:00");
        assert_eq!(short[1].label, "10:00");
    }

    #[test]
    fn populations_take_a_log_scale_with_japanese_ticks() {
        let range = |values: &[i64]| {
            let scale = LogScale::enclosing(values.iter().copied(), (1, 10));
            (scale.low, scale.high)
        };
        assert_eq!(range(&[700, 375_884]), (500, 500_000));
        assert_eq!(range(&[1_000, 1_000]), (500, 2_000));
        assert_eq!(range(&[1]), (1, 2));
        assert_eq!(range(&[]), (1, 10));
        assert_eq!(
            LogScale::enclosing([700, 375_884].into_iter(), (1, 10)).ticks(),
            [
                500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000
            ]
        );
        let labels: Vec<_> = [500, 1_000, 10_000, 200_000, 2_000_000]
            .map(population_label)
            .to_vec();
        assert_eq!(labels, ["500", "1,000", "1万", "20万", "200万"]);

        let dots: Vec<ShareDot> = [(700, 120_000), (7_000, 1_200_000), (70_000, 12_000_000)]
            .iter()
            .map(|&(population, share_yen)| ShareDot {
                name: format!("人口{population}"),
                population: Some(population),
                share_yen,
            })
            .collect();
        let svg = shares_against_population(&dots);
        let xs: Vec<i64> = attributes(&svg, "circle", "cx")
            .iter()
            .map(|x| x.parse().expect("an integer"))
            .collect();
        let ys: Vec<i64> = attributes(&svg, "circle", "cy")
            .iter()
            .map(|y| y.parse().expect("an integer"))
            .collect();
        // Each tenfold step takes the same length, across and up.
        assert_eq!(xs.len(), 3);
        assert!((xs[1] - xs[0] - (xs[2] - xs[1])).abs() <= 1, "{xs:?}");
        assert!((ys[0] - ys[1] - (ys[1] - ys[2])).abs() <= 1, "{ys:?}");
        assert!(svg.contains(">¥100,000</text>") && svg.contains("縦軸・横軸とも対数目盛"));
        assert!(svg.contains("<title>人口700&#10;人口 700人&#10;負担額 ¥120,000</title>"));
        assert_sane(&svg);
    }

    #[test]
    fn bodies_without_a_population_are_counted_not_drawn() {
        let svg = shares_against_population(&[
            ShareDot {
                name: "組合".to_owned(),
                population: None,
                share_yen: 5,
            },
            ShareDot {
                name: "村".to_owned(),
                population: Some(800),
                share_yen: 7,
            },
        ]);
        assert_eq!(attributes(&svg, "circle", "cx").len(), 1);
        assert!(svg.contains("人口の記録がない1団体"));
        let empty = shares_against_population(&[]);
        assert!(empty.contains("負担額はまだありません"));
        assert_sane(&empty);
    }

    #[test]
    fn the_same_data_draw_the_same_chart() {
        let chart = timeline(vec![point(3, 1, 0), point(4, 2, 1)]);
        assert_eq!(answers_over_time(&chart), answers_over_time(&chart.clone()));
        let dots = vec![ShareDot {
            name: "村".to_owned(),
            population: Some(800),
            share_yen: 7,
        }];
        assert_eq!(
            shares_against_population(&dots),
            shares_against_population(&dots.clone())
        );
    }
}
