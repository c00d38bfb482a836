"""Benchmark: importing a large QQ 消息管理器 text export (`read_qq` + `write_import`).

Writes a synthetic export of N messages (UTF-8 with BOM, CRLF lines, several
``消息对象`` sections of up to ~1,500 members each) with a realistic mix: about 5 %
system lines (joins, invites, removals, leaves, red packet claims, recalls,
renames and unknown notices), ~8 % messages with ``@`` mentions (half of them
leading, i.e. replies), ~10 % multi-line messages, ~1 % red packets, ~15 %
image/sticker placeholders, and members who change their nickname now and then.
Then, in a fresh child process per measurement, it runs ``read_qq`` and
``write_import`` on it and reports wall time per stage and the child's peak
resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the whole
process, interpreter and libraries included, not tracemalloc).

Usage::

    python benchmarks/bench_import.py [--messages 1000000] [--keep DIR]

Prints a markdown table with the machine and its load; the figures recorded in
docs/benchmarks.md come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RULE = "=" * 64
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞琳斌宇浩凯健俊帆雪晨欣怡悦"
WORDS = ["今天", "打卡", "大家", "好的", "收到", "请问", "这个", "怎么", "报名", "明天", "活动", "几点",
         "开始", "谢谢", "哈哈", "学习", "分享", "资料", "群里", "老师", "作业", "完成", "加油", "周末"]


def _name(rng: random.Random) -> str:
    """A group card: a Chinese name, sometimes with a city or a number (few collisions, as in real groups)."""
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
    r = rng.random()
    if r < 0.3:
        city = rng.choice(("-北京", "-上海", "-深圳", "-杭州", "-成都"))
        return name + city + rng.choice(("", "-产品", "-运营"))
    if r < 0.6:
        return name + str(rng.randint(1, 999))
    return name


def make_export(path: Path, n_messages: int, seed: int = 0) -> dict[str, int]:
    """Write a synthetic export of ``n_messages`` messages; return what was written, by kind."""
    rng = random.Random(seed)
    n_groups = max(1, round(n_messages / 200_000))
    per_group = n_messages // n_groups
    counts = dict.fromkeys(["messages", "system", "mentions", "multiline", "red_packets",
                            "nickname_changes", "lines"], 0)
    out = ["消息记录（此消息记录为文本格式，不支持重新导入）", ""]
    qq_next = 100_000
    t0 = 1_704_067_200  # 2024-01-01 local
    for g in range(n_groups):
        out += [RULE, "消息分组:我的QQ群", RULE, f"消息对象:兴趣群{g + 1}", RULE, ""]
        members: list[list] = []  # [qq, nickname]
        for _ in range(1200):
            members.append([str(qq_next), _name(rng)])
            qq_next += 1
        t = t0
        n = per_group if g < n_groups - 1 else n_messages - per_group * (n_groups - 1)
        for _ in range(n):
            t += rng.randint(1, 40)
            lt = time.gmtime(t)
            stamp = (f"{lt.tm_year}-{lt.tm_mon:02d}-{lt.tm_mday:02d} "
                     f"{lt.tm_hour}:{lt.tm_min:02d}:{lt.tm_sec:02d}")
            r = rng.random()
            if r < 0.05:  # a system line
                counts["system"] += 1
                s = rng.random()
                who = rng.choice(members)
                if s < 0.45 and len(members) < 1500:
                    new = [str(qq_next), _name(rng)]
                    qq_next += 1
                    members.append(new)
                    text = f"{new[1]}加入本群。" if s < 0.25 else f"{who[1]}邀请{new[1]}加入了本群。"
                elif s < 0.65 and len(members) > 1000:
                    members.remove(who)
                    text = f"{who[1]}被管理员移出本群" if s < 0.55 else f"{who[1]}退出了本群。"
                elif s < 0.85:
                    text = f"{who[1]}领取了{rng.choice(members)[1]}的红包"
                elif s < 0.95:
                    text = f"{who[1]}撤回了一条消息"
                else:
                    text = f"{who[1]}修改了群名称" if s < 0.97 else "群公告已更新"
                out += [f"{stamp} 系统消息({rng.choice(('10000', '1000000'))})", text, ""]
                continue
            who = rng.choice(members)
            if rng.random() < 0.002:  # a nickname change
                who[1] = _name(rng)
                counts["nickname_changes"] += 1
            counts["messages"] += 1
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
            m = rng.random()
            if m < 0.01:
                counts["red_packets"] += 1
                body = ["[QQ红包]请使用新版手机QQ查收红包。"]
            elif m < 0.16:
                body = [rng.choice(("[图片]", "[表情]", f"{words}[表情]"))]
            elif m < 0.24:
                counts["mentions"] += 1
                other = rng.choice(members)[1]
                body = [f"@{other} {words}" if rng.random() < 0.5 else f"{words} @{other} 看看"]
            else:
                body = [words + ("？" if rng.random() < 0.1 else "")]
            if rng.random() < 0.10:
                counts["multiline"] += 1
                body += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
                         for _ in range(rng.randint(1, 3))]
            out += [f"{stamp} {who[1]}({who[0]})", *body, ""]
            if len(out) > 200_000:
                _flush(path, out)
                counts["lines"] += len(out)
                out = []
    _flush(path, out)
    counts["lines"] += len(out)
    return counts


def _flush(path: Path, lines: list[str]) -> None:
    new = not path.exists()
    with open(path, "ab") as fh:
        if new:
            fh.write(b"\xef\xbb\xbf")
        fh.write(("\r\n".join(lines) + "\r\n").encode("utf-8"))


CHILD = """
import json, sys, time
t0 = time.perf_counter()
from shequn_ml.importers import write_import
from shequn_ml.importers.qq import read_qq
t1 = time.perf_counter()
result = read_qq(sys.argv[1])
t2 = time.perf_counter()
write_import(result, sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "write_s": t3 - t2,
                  "events": len(result.events), "skipped": sum(result.skipped.values()),
                  "skipped_by_reason": dict(result.skipped),
                  "event_types": result.events["event_type"].value_counts().to_dict()}))
"""


def run_child(export: Path, out_dir: Path) -> tuple[dict, float, float]:
    """read_qq + write_import in a child; (its report, wall seconds, peak RSS MB)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(export), str(out_dir)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(proc.returncode)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the export")
    parser.add_argument("--keep", help="folder to keep the export and the imported tables in")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-import-"))
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "export.txt"
    if export.exists():
        export.unlink()
    started = time.perf_counter()
    written = make_export(export, args.messages)
    gen_s = time.perf_counter() - started
    size_mb = export.stat().st_size / 2**20
    load_before = os.getloadavg()
    report, wall, peak = run_child(export, folder / "imported")
    load_after = os.getloadavg()
    import pandas as pd
    import pyarrow as pa

    n = args.messages
    print(f"\nbench_import: QQ text export, {n:,} messages ({size_mb:,.0f} MB, {written['lines']:,} "
          f"lines; written in {gen_s:.0f} s)")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"pandas {pd.__version__}, pyarrow {pa.__version__}; load average before "
          f"{load_before[0]:.1f}, after {load_after[0]:.1f}")
    print(f"written: {written}")
    print(f"imported: {report['events']:,} events; {report['event_types']}")
    print(f"skipped: {report['skipped']:,}; {report['skipped_by_reason']}\n")
    print("| messages | file MB | events | read_qq s | write_import s | total s (child wall) | "
          "messages/s (read+write) | events/s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    work = report["read_s"] + report["write_s"]
    print(f"| {n:,} | {size_mb:,.0f} | {report['events']:,} | {report['read_s']:.1f} | "
          f"{report['write_s']:.1f} | {wall:.1f} | {n / work:,.0f} | {report['events'] / work:,.0f} | "
          f"{peak:,.0f} |")
    print("\npeak RSS: the child's maximum resident set size (getrusage RUSAGE_CHILDREN), "
          f"library import ({report['import_s']:.1f} s) included in the wall time only")
    if not args.keep:
        import shutil

        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
