#!/usr/bin/env bash
# The few-shot measurement: `default` plus three WMT19 dev examples from outside the scored first 200 (rows 369, 412,
# 417; 369's reference completed with "yuan") -> reports/translation-wmt19-default-fewshot.json. About 10 min alone.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/summarizer eval translation ../shared/eval/translation/wmt19_newstest_zhen.jsonl --config default --limit 200 \
  --set 'translate.few_shot=[["当日6个项目集中开工，总投资42.9亿元人民币。","On that day, six projects started construction, with a total investment of 4.29 billion yuan."],["9月27日至28日，全国无膜棉现场观摩暨研讨交流活动在新疆沙雅县举行。","From September 27 to 28, the nationwide film-free cotton on-site observation and discussion exchange activities were held in Xayar County, Xinjiang."],["新疆是中国最重要的产棉区，据国家统计局统计，2017年新疆棉花种植面积为3500万亩，占全国棉花面积的61 % 。","Xinjiang is China’s most important cotton-producing region. According to the National Bureau of Statistics, the cotton planting area in Xinjiang in 2017 was 35 million mu, accounting for 61% of the national cotton area."]]' \
  --output reports/translation-wmt19-default-fewshot.json
