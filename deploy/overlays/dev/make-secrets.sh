#!/bin/sh
# Write secrets/*.env from secrets/*.env.example, replacing every `change-me` with a fresh
# random value. Existing .env files are left alone. The .env files are git-ignored.
set -eu
cd "$(dirname "$0")/secrets"
for example in *.env.example; do
  target="${example%.example}"
  if [ -e "$target" ]; then
    echo "keep  $target"
    continue
  fi
  while IFS= read -r line; do
    case "$line" in
      *=change-me) echo "${line%=change-me}=$(openssl rand -hex 24)" ;;
      *) echo "$line" ;;
    esac
  done < "$example" > "$target"
  chmod 600 "$target"
  echo "wrote $target"
done
